/** jlm prune. See ARCHITECTURE.md for what this module owns. */
package dev.jlm.prune;

package dev.jlm.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import java.util.Collection;
import java.util.Map;

/** Builds the {@code --json} output of the commands: plain objects of strings, numbers, lists and maps. */
final class Json {
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
            .disableHtmlEscaping().create();

    private Json() {
    }

    /** JSON text of a tree of maps, collections, arrays, strings, numbers, booleans and nulls. */
    static String write(Object tree) {
        return GSON.toJson(toElement(tree));
    }

    static JsonElement toElement(Object o) {
        return switch (o) {
            case null -> JsonNull.INSTANCE;
            case JsonElement e -> e;
            case String s -> new JsonPrimitive(s);
            case Number n -> new JsonPrimitive(n);
            case Boolean b -> new JsonPrimitive(b);
            case Map<?, ?> m -> {
                JsonObject obj = new JsonObject();
                m.forEach((k, v) -> obj.add(String.valueOf(k), toElement(v)));
                yield obj;
            }
            case Collection<?> c -> {
                JsonArray arr = new JsonArray();
                c.forEach(v -> arr.add(toElement(v)));
                yield arr;
            }
            case long[] a -> {
                JsonArray arr = new JsonArray();
                for (long v : a) {
                    arr.add(v);
                }
                yield arr;
            }
            default -> new JsonPrimitive(o.toString());
        };
    }
}

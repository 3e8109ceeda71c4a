/*
 * A resident javac with Error Prone: the helper process tasks/errorprone.py keeps (through
 * tasks/resident.py), so that each check pays neither a JVM's start nor Error Prone's class
 * loading (about 3 s cold here; 60-250 ms warm on a small file).
 *
 * Run by `java` in source-file mode with Error Prone's jars on the class path. It reads one
 * request a line on stdin: the path of the document's file, as a JSON string. It compiles that
 * file alone with javac's lints (-Xlint:all), through attribution and flow analysis only (no
 * class file is written and no annotation processor runs: nothing of the user's code is
 * executed), with Error Prone's checks attached (its ErrorProneJavaCompiler), on a class path of
 * the document's own private directory only, and writes one JSON line back:
 * {"output": "..."}, what javac prints (its diagnostics, Error Prone's among them, in javac's
 * own format), or {"error": "..."}. One check at a time.
 *
 * Error Prone checks a file only when javac found no error in it: a lone file whose names come
 * from other files of its project gets javac's errors and no Error Prone finding (the caller
 * says so). Letting its checks read such a file was tried: most of them fail on unresolved
 * types and the rest report noise.
 */

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import com.google.errorprone.ErrorProneJavaCompiler;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;

public final class ErrorProneResident {
  // Error Prone's own compiler (javac with its checks attached), not the plugin: the plugin is
  // found on the class path, and the document's class path must hold nothing but its own
  // directory (Error Prone's jars, Guava among them, would resolve the user's imports).
  private static final List<String> OPTIONS = List.of(
      "-XDcompilePolicy=simple", "-XDshould-stop.ifError=FLOW", "-XDshould-stop.ifNoError=FLOW",
      "-proc:none", "-implicit:none", "-encoding", "UTF-8", "-Xlint:all", "-Xmaxerrs", "50");

  public static void main(String[] args) throws Exception {
    JavaCompiler javac = new ErrorProneJavaCompiler();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String answer;
      try {
        answer = check(javac, Path.of(unquoted(line.strip())));
      } catch (Throwable error) { // any failure is answered, never fatal
        answer = "{\"error\": " + quoted(error.toString()) + "}";
      }
      out.println(answer);
      out.flush();
    }
  }

  private static String check(JavaCompiler javac, Path source) throws Exception {
    StringWriter output = new StringWriter();
    try (StandardJavaFileManager files =
        javac.getStandardFileManager(null, Locale.ROOT, StandardCharsets.UTF_8)) {
      // No diagnostic listener: javac prints each diagnostic to `output` as its command does.
      List<String> options = new ArrayList<>(OPTIONS);
      options.addAll(List.of("-classpath", source.getParent().toString(), "-sourcepath",
          source.getParent().toString()));
      javac.getTask(output, files, null, options, null, files.getJavaFileObjects(source)).call();
    }
    return "{\"output\": " + quoted(output.toString()) + "}";
  }

  /** A JSON string's value (the caller's orjson escapes only quotes, backslashes, controls). */
  private static String unquoted(String json) {
    if (json.length() < 2 || json.charAt(0) != '"' || json.charAt(json.length() - 1) != '"') {
      throw new IllegalArgumentException("the request is not a JSON string");
    }
    StringBuilder text = new StringBuilder();
    for (int i = 1; i < json.length() - 1; i++) {
      char c = json.charAt(i);
      if (c != '\\') {
        text.append(c);
        continue;
      }
      char escaped = json.charAt(++i);
      switch (escaped) {
        case 'n' -> text.append('\n');
        case 't' -> text.append('\t');
        case 'r' -> text.append('\r');
        case 'b' -> text.append('\b');
        case 'f' -> text.append('\f');
        case 'u' -> {
          text.append((char) Integer.parseInt(json.substring(i + 1, i + 5), 16));
          i += 4;
        }
        default -> text.append(escaped); // \" \\ \/
      }
    }
    return text.toString();
  }

  private static String quoted(String text) {
    StringBuilder json = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      switch (c) {
        case '"' -> json.append("\\\"");
        case '\\' -> json.append("\\\\");
        case '\n' -> json.append("\\n");
        case '\r' -> json.append("\\r");
        case '\t' -> json.append("\\t");
        default -> {
          if (c < 0x20) {
            json.append(String.format("\\u%04x", (int) c));
          } else {
            json.append(c);
          }
        }
      }
    }
    return json.append('"').toString();
  }
}

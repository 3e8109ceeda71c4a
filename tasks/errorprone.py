"""javac with Error Prone, resident: Google's bug patterns that javac's own lints do not have (an
exception created and never thrown, ``equals(null)``, an array's identity hash, a format string
that does not match its arguments, a comparison that is always false, ...), by the javac plugin
Java projects run in their builds, in the same compile as javac's lints (``tasks/compilers.py``
reads the output, as it reads javac's own).

javac runs in a resident JVM (``tasks/errorprone_resident.java``, kept by
:mod:`tasks.resident`): a JVM's start and Error Prone's class loading are about 3 s here, a warm
compile of a small file tens of milliseconds. It compiles through attribution and flow analysis
only, with Error Prone's own compiler (javac with its checks attached, as its plugin attaches
them) and a class path of the document's private directory alone: no class file is written, no
annotation processor runs, nothing of the user's is executed, no configuration is read.

Error Prone checks a file only when javac finds no error in it: a lone file that names classes
of other files of its project gets javac's findings only (the caller says so).

Severity: Error Prone's ``ERROR`` patterns (on by default as errors: its authors' likely bugs)
are likely bugs (``warning``); its ``WARNING`` patterns (a mix of bugs and taste:
``ReferenceEquality``, ``DefaultPackage``) are ``hint``, shown on request.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

from tasks.linters import LinterError, LinterMissing, private_memory_dir
from tasks.resident import Resident

#: The pinned version (infra/errorprone/pom.xml holds the same; a test keeps them equal).
ERRORPRONE_VERSION = "2.42.0"
#: Where ``make install`` puts Error Prone's jars; ``ERRORPRONE_LIBS`` overrides it.
VENDOR_ERRORPRONE = (Path(__file__).resolve().parent.parent / ".stack" / "vendor" / "errorprone"
                     / "libs")
RESIDENT_SOURCE = Path(__file__).with_name("errorprone_resident.java")
#: The first compile's limit, the JVM's start included (a later one gets the compilers' limit).
START_TIMEOUT_S = 30.0
#: Checks the helper serves before it is replaced (what javac keeps between runs grows).
RESIDENT_CHECKS = 500
#: The helper's heap (javac, Error Prone and one file's trees).
HEAP_MB = 256
#: javac's internals Error Prone reaches (its documented command line for JDK 16 and later).
_JAVAC_PACKAGES = ("api", "file", "main", "model", "parser", "processing", "tree", "util")
_JAVAC_OPENED = ("code", "comp")
_PATTERN = re.compile(r"^\[([A-Z]\w*)\] (.*)$")


def errorprone_libs() -> Path:
    """The folder of Error Prone's jars (:class:`LinterMissing` if it is not installed, or turned
    off: ``ERRORPRONE=off`` saves the resident JVM's memory, 160 MB warm to 370 MB after many
    files, and Java files get javac's own process, about 0.8 s a file)."""
    if os.environ.get("ERRORPRONE", "on") == "off":
        raise LinterMissing("turned off (ERRORPRONE=off)")
    configured = os.environ.get("ERRORPRONE_LIBS")
    libs = Path(configured) if configured else VENDOR_ERRORPRONE
    if not any(libs.glob(f"error_prone_core-{ERRORPRONE_VERSION}*.jar")):
        raise LinterMissing("not installed (`make install`)")
    return libs


def _helper_command() -> tuple[list[str], dict[str, str]]:
    java = shutil.which("java")
    if java is None:
        raise LinterMissing("java is not installed (`make install`)")
    jars = sorted(str(jar) for jar in errorprone_libs().glob("*.jar"))
    flags = [f"--add-exports=jdk.compiler/com.sun.tools.javac.{name}=ALL-UNNAMED"
             for name in _JAVAC_PACKAGES]
    flags += [f"--add-opens=jdk.compiler/com.sun.tools.javac.{name}=ALL-UNNAMED"
              for name in _JAVAC_OPENED]
    argv = [java, f"-Xmx{HEAP_MB}m", "-XX:+UseSerialGC", "-XX:MinHeapFreeRatio=10",
            "-XX:MaxHeapFreeRatio=30", "-XX:TieredStopAtLevel=1",
            "-Xshare:auto", *flags, "-cp", os.pathsep.join(jars), str(RESIDENT_SOURCE)]
    # No JAVA_TOOL_OPTIONS or JDK_JAVA_OPTIONS of the server's; HOME where no configuration is.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent",
           "LANG": "C.UTF-8"}
    return argv, env


_RESIDENT = Resident("Error Prone", _helper_command, RESIDENT_CHECKS,
                     start_timeout_s=START_TIMEOUT_S)


def resident_javac(source: Path, timeout_s: float, start: bool = False) -> str:
    """What javac with Error Prone prints for ``source`` (a file in a private directory), paths
    as file names (:class:`LinterMissing` if Error Prone is not installed, :class:`LinterError`
    if the helper fails, or is not warm and ``start`` is false: a request never waits for a
    JVM's start)."""
    answer = _RESIDENT.ask(str(source), timeout_s, start=start)
    if "error" in answer:
        raise LinterError(f"Error Prone failed: {str(answer['error'])[:200]}")
    output = answer.get("output")
    if not isinstance(output, str):
        raise LinterError("Error Prone's helper answered something unreadable")
    return output.replace(f"{source.parent}{os.sep}", "")


def pattern_of(message: str) -> tuple[str, str] | None:
    """An Error Prone finding's bug pattern and message, from javac's message line (``[Name]
    text``: Error Prone's names are CamelCase, javac's lint categories lower case); ``None`` for
    javac's own."""
    match = _PATTERN.match(message)
    return (match[1], match[2]) if match else None


_WARMING = threading.Lock()


def ready() -> bool:
    """Whether the helper is warm; if not, it is started aside (once at a time), so a request
    never waits for a JVM's start: it gets javac's own process meanwhile."""
    try:
        errorprone_libs()
    except LinterMissing:
        return False
    if _RESIDENT.warm:
        return True
    if _WARMING.acquire(blocking=False):
        def warm_then_release() -> None:
            try:
                warm_errorprone()
            finally:
                _WARMING.release()
        threading.Thread(target=warm_then_release, name="warm-errorprone", daemon=True).start()
    return False


def warm_errorprone() -> bool:
    """Start the helper with one compile of a small class now, not in the first request (its
    start is about 3 s); whether it worked."""
    try:
        with private_memory_dir("Error Prone") as private:
            source = Path(private) / "Warm.java"
            source.write_text("public class Warm {\n  int f(int x) {\n    return x + 1;\n  }\n}\n",
                              encoding="utf-8")
            resident_javac(source, START_TIMEOUT_S, start=True)
    except (LinterError, LinterMissing, OSError):
        return False
    return True

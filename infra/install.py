"""Install the real components from registry packages, pinned and checksum-verified.

Apache Kafka's jars come from Maven Central through ``infra/kafka/pom.xml`` (exact versions,
``mvn -C`` verifies checksums); ``tritonserver`` ships inside the ``nvidia-pytriton`` wheel, which
we fetch with ``pip download --no-deps``, check against the sha256 pinned below, and extract only
the files we run. Redis, ShellCheck, Go, gcc and g++, a JDK, rustc, cppcheck, Neovim and
Emacs with eglot (what the stack, find_bugs and ``make test`` run) come from Debian with
``apt-get`` when missing; oxlint and TypeScript's tsc from npm (infra/analyzers' lock);
staticcheck from the Go module proxy (``go install`` at a pinned version); Error Prone's jars
from Maven Central through ``infra/errorprone/pom.xml``. The analyzers' caches
(Go's standard library, staticcheck's and mypy's) are warmed last.

Run: ``python -m infra.install`` (idempotent; re-verifies what is already there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.dashboard import chart_library
from config.settings import REPO_ROOT, Settings
from infra.broker import POM, kafka_libs
from schemas.errors import AssistantError
from tasks.analyzers import warm
from tasks.errorprone import ERRORPRONE_VERSION, VENDOR_ERRORPRONE
from tasks.staticcheck import STATICCHECK_VERSION, VENDOR_STATICCHECK

JAVA_HINT = "install Java 17 with `apt-get install -y openjdk-17-jre-headless`"
MAVEN_HINT = "install Maven with `apt-get install -y maven`"
ERRORPRONE_POM = REPO_ROOT / "infra" / "errorprone" / "pom.xml"


@dataclass(frozen=True)
class PinnedWheel:
    """A wheel that carries a binary we run; ``members`` are path prefixes to extract."""

    component: str
    requirement: str
    filename: str
    sha256: str
    members: tuple[str, ...]


TRITON = PinnedWheel(
    component="tritonserver 2.51.0",
    requirement="nvidia-pytriton==0.7.0",
    filename="nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl",
    sha256="21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df",
    members=("pytriton/tritonserver/", "nvidia_pytriton.libs/"),
)


class InstallError(AssistantError, RuntimeError):
    """An install step failed; the message names the component and what to do."""


def triton_root(settings: Settings) -> Path:
    return settings.vendor_dir / "triton" / "pytriton" / "tritonserver"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(wheel: PinnedWheel, cache: Path) -> Path:
    """Download ``wheel`` into ``cache`` unless a verified copy is there; verify its checksum."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / wheel.filename
    if not path.exists():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-d", str(cache), wheel.requirement],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not path.exists():
            raise InstallError(
                f"{wheel.component}: could not download {wheel.requirement} from PyPI "
                f"(pip said: {result.stderr.strip()[-400:]}); check that PyPI is reachable"
            )
    actual = sha256_of(path)
    if actual != wheel.sha256:
        path.unlink()
        raise InstallError(
            f"{wheel.component}: {wheel.filename} has sha256 {actual}, expected {wheel.sha256}; "
            "the file was removed, run the install again (a repeated mismatch means the registry "
            "serves a different file: do not run it)"
        )
    return path


def extract(wheel_path: Path, members: tuple[str, ...], target: Path) -> None:
    """Extract the listed members, keeping their relative layout (RPATHs depend on it)."""
    with zipfile.ZipFile(wheel_path) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(members) or info.is_dir():
                continue
            out = target / info.filename
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = (info.external_attr >> 16) & 0o777
            if mode & stat.S_IXUSR or "/bin/" in info.filename or info.filename.endswith(
                ("_stub",)
            ):
                out.chmod(0o755)


def resolve_jars(pom: Path, libs: Path, expected: str, component: str) -> Path:
    """Resolve ``pom``'s pinned jars into ``libs`` unless the same pom already resolved them
    (``expected``: a glob one of them matches); return ``libs``."""
    stamp = libs.parent / f"{libs.name}.pom.sha256"
    wanted = sha256_of(pom)
    if libs.is_dir() and stamp.exists() and stamp.read_text().strip() == wanted:
        return libs
    if shutil.which("java") is None:
        raise InstallError(f"{component}: `java` is missing; {JAVA_HINT}")
    if shutil.which("mvn") is None:
        raise InstallError(f"{component}: `mvn` is missing; {MAVEN_HINT}")
    staging = libs.with_name(f"{libs.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-C", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 or not any(staging.glob(expected)):
        shutil.rmtree(staging, ignore_errors=True)
        raise InstallError(
            f"{component}: Maven could not resolve {pom.relative_to(REPO_ROOT)} (it said: "
            f"{(result.stdout + result.stderr).strip()[-600:]}); check that Maven Central is "
            "reachable, then run `make install` again")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    stamp.write_text(wanted + "\n")
    return libs


def install_kafka(settings: Settings) -> Path:
    """Apache Kafka's jars (infra/kafka/pom.xml); return their folder."""
    return resolve_jars(POM, kafka_libs(settings), "kafka_2.13-*.jar", "kafka broker")


def install_errorprone() -> str:
    """Error Prone's jars (infra/errorprone/pom.xml) for find_bugs on Java. Optional: without
    them Java files get javac alone and the answer says so."""
    try:
        return str(resolve_jars(ERRORPRONE_POM, VENDOR_ERRORPRONE,
                                f"error_prone_core-{ERRORPRONE_VERSION}.jar", "Error Prone"))
    except InstallError as error:
        return f"none ({error})"


def install_triton(settings: Settings) -> Path:
    root = triton_root(settings)
    cache = settings.stack_home / "cache"
    wheel = fetch_wheel(TRITON, cache)
    binary = root / "bin" / "tritonserver"
    if not binary.exists():
        extract(wheel, TRITON.members, settings.vendor_dir / "triton")
    # The python backend looks for its stub beside libtriton_python.so; the wheel keeps one stub
    # per Python version elsewhere.
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / minor / "triton_python_backend_stub"
    if not stub.exists():
        raise InstallError(f"tritonserver: no python backend stub for Python {minor} in the wheel")
    placed = root / "backends" / "python" / "triton_python_backend_stub"
    if not placed.exists() or placed.read_bytes() != stub.read_bytes():
        # Copy beside it, then rename over it: a running stub keeps its (old) file, whereas
        # writing into a running executable fails with "Text file busy".
        staged = placed.with_name(placed.name + ".new")
        shutil.copy2(stub, staged)
        staged.chmod(0o755)
        os.replace(staged, placed)
    return binary


@dataclass(frozen=True)
class DebianPackage:
    """A program the stack or its tests run, and the Debian packages that bring it."""

    why: str
    packages: tuple[str, ...]
    #: A command that succeeds only when the program is usable (``None``: ``packages[0]`` is
    #: also the program's name on ``PATH``).
    probe: tuple[str, ...] | None = None

    def present(self) -> bool:
        if self.probe is None:
            return shutil.which(self.packages[0]) is not None
        if shutil.which(self.probe[0]) is None:
            return False
        try:
            return subprocess.run(list(self.probe), capture_output=True, check=False,
                                  timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


#: Everything ``make test`` needs from Debian beyond the machine's toolchains (Java, Maven, Go,
#: Node come with the machine; their absence is reported by the steps that use them).
DEBIAN_PACKAGES = (
    DebianPackage("the stack's quota and cache store", ("redis-server",)),
    DebianPackage("find_bugs on shell scripts", ("shellcheck",)),
    DebianPackage("the Go half of the executable evaluation, and find_bugs on Go (go vet)",
                  ("golang-go",), ("go", "version")),
    DebianPackage("find_bugs on C and C++ (gcc, g++)", ("gcc", "g++"), ("g++", "--version")),
    DebianPackage("find_bugs on Java (javac)", ("openjdk-17-jdk-headless",),
                  ("javac", "-version")),
    DebianPackage("find_bugs on Rust (rustc)", ("rustc",), ("rustc", "--version")),
    DebianPackage("find_bugs on C and C++ (cppcheck)", ("cppcheck",)),
    DebianPackage("the Neovim editor tests", ("neovim",), ("nvim", "--version")),
    DebianPackage("the browser tests (the dashboard, VS Code in code-server)", ("chromium",),
                  ("chromium", "--headless", "--version")),
    DebianPackage("building code-server's native modules, and its search (ripgrep)",
                  ("libkrb5-dev", "libx11-dev", "libxkbfile-dev", "libsecret-1-dev", "ripgrep"),
                  ("dpkg", "-s", "libkrb5-dev", "libx11-dev", "libxkbfile-dev",
                   "libsecret-1-dev", "ripgrep")),
    DebianPackage("the Emacs editor tests", ("emacs-nox", "elpa-eglot"),
                  ("emacs", "--batch", "-q", "--eval", "(require (quote eglot))")),
)


def missing_debian_packages(wanted: tuple[DebianPackage, ...] = DEBIAN_PACKAGES
                            ) -> list[DebianPackage]:
    return [package for package in wanted if not package.present()]


def install_debian_packages(wanted: tuple[DebianPackage, ...] = DEBIAN_PACKAGES) -> list[str]:
    """Install what is missing with apt-get (machines here are root); without root, or when apt
    fails, raise with the exact command to run."""
    missing = missing_debian_packages(wanted)
    if not missing:
        return []
    names = [name for package in missing for name in package.packages]
    command = f"apt-get install -y {' '.join(names)}"
    reasons = "; ".join(f"{' '.join(p.packages)} ({p.why})" for p in missing)
    if os.geteuid() != 0:
        raise InstallError(f"debian packages missing: {reasons}; run `{command}` as root")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *names]):
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                    timeout=1200, env={**os.environ,
                                                       "DEBIAN_FRONTEND": "noninteractive"})
            failure = result.stderr.strip()[-400:] if result.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as error:
            failure = str(error)
        if failure:
            raise InstallError(f"debian packages: `{' '.join(cmd)}` failed ({failure}); "
                               f"missing: {reasons}")
    still = missing_debian_packages(tuple(missing))
    if still:
        raise InstallError("debian packages: installed but still not usable: "
                           + ", ".join(" ".join(p.packages) for p in still))
    return names


ANALYZERS = Path(__file__).resolve().parent / "analyzers"
DASHBOARD = Path(__file__).resolve().parent / "dashboard"


def oxlint_path(settings: Settings) -> Path:
    return settings.vendor_dir / "analyzers" / "node_modules" / ".bin" / "oxlint"


def npm_ci(source: Path, target: Path, ready: Path) -> str | None:
    """``npm ci`` of ``source``'s package.json and lock into ``target`` (npm checks every
    package against the lock's integrity hashes), unless ``ready`` exists and the lock there
    is this one. Why it failed, or ``None``."""
    lock = (source / "package-lock.json").read_bytes()
    installed = target / "package-lock.json"
    if ready.exists() and installed.exists() and installed.read_bytes() == lock:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is missing (install Node.js 20)"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "package.json", target / "package.json")
    shutil.copy2(source / "package-lock.json", installed)
    try:
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--omit=dev"],
                                cwd=target, capture_output=True, text=True, check=False,
                                timeout=600)
        failure = result.stderr.strip()[-300:] if result.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = str(error)
    if failure or not ready.exists():
        installed.unlink(missing_ok=True)
        return f"`npm ci` failed: {failure or f'{ready.name} is missing after it'}"
    return None


def install_analyzers(settings: Settings) -> list[str]:
    """The find_bugs route's analyzers for JavaScript and TypeScript: oxlint and TypeScript 7's
    native tsc (npm, pinned by infra/analyzers' lock, checked by npm's integrity hashes).
    Optional: when they cannot be installed it is reported (those languages get syntax errors
    only, and the answer says which analyzer is missing), never fatal."""
    failure = npm_ci(ANALYZERS, settings.vendor_dir / "analyzers", oxlint_path(settings))
    if failure is None:
        return []
    return [f"oxlint, tsc: {failure}; JavaScript and TypeScript get syntax errors only"]


def install_dashboard(settings: Settings) -> str:
    """The dashboard's chart library, Chart.js (npm, pinned by infra/dashboard's lock), served
    by the analytics process. Without it the dashboard still shows every panel's table."""
    failure = npm_ci(DASHBOARD, settings.vendor_dir / "dashboard", chart_library(settings))
    return str(chart_library(settings)) if failure is None else f"none ({failure})"


CODE_SERVER = Path(__file__).resolve().parent / "code-server"
#: Native modules of VS Code that must build (npm 11 runs no dependency's install script
#: unless allowed by name); the Windows-only ones stay off.
CODE_SERVER_BUILDS = ("@parcel/watcher,@vscode/deviceid,@vscode/spdlog,kerberos,native-watchdog,"
                      "node-pty,@vscode/ripgrep")


def code_server_path(settings: Settings) -> Path:
    return settings.vendor_dir / "code-server" / "node_modules" / ".bin" / "code-server"


def install_code_server(settings: Settings) -> str:
    """VS Code in the browser (code-server, pinned by infra/code-server's lock; VS Code's own
    dependencies by code-server's shrinkwrap), for the test that runs our extension in it.
    What its postinstall does for the server is done step by step here (its command-line
    helpers for a terminal inside VS Code are left out): native modules built against Debian's
    Node headers (``nodedir=/usr``, nothing downloaded), Debian's ripgrep instead of a download.
    Optional: without it the VS Code test is skipped and says why."""
    target = settings.vendor_dir / "code-server"
    lock = ((CODE_SERVER / "package.json").read_bytes()
            + (CODE_SERVER / "package-lock.json").read_bytes())
    marker = target / ".installed"
    if (marker.exists() and marker.read_bytes() == lock
            and code_server_path(settings).exists()):
        return str(code_server_path(settings))
    npm, rg = shutil.which("npm"), shutil.which("rg")
    if npm is None or rg is None:
        return f"none ({'npm' if npm is None else 'rg (Debian ripgrep)'} is missing)"
    marker.unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    (target / ".npmrc").write_text("nodedir=/usr\n")
    vscode = target / "node_modules" / "code-server" / "lib" / "vscode"
    env = {**os.environ, "npm_config_yes": "true"}
    quiet = ["--no-audit", "--no-fund"]
    steps: list[tuple[Path, list[str]]] = [
        (target, [npm, "ci", "--ignore-scripts", "--omit=dev", *quiet]),
        # code-server hashes passwords with argon2 (allowed in the package.json) even when
        # started without one.
        (target, [npm, "rebuild", "argon2"]),
        (vscode, [npm, "install", "--omit=dev", "--ignore-scripts", *quiet]),
        (vscode, [npm, "rebuild"]),
        (vscode / "extensions", [npm, "install", "--omit=dev", *quiet]),
    ]
    for index, (where, command) in enumerate(steps):
        if index == 0:
            shutil.copy2(CODE_SERVER / "package.json", target / "package.json")
            shutil.copy2(CODE_SERVER / "package-lock.json", target / "package-lock.json")
        if index == 2:
            (vscode / ".npmrc").write_text(f"nodedir=/usr\nallow-scripts={CODE_SERVER_BUILDS}\n")
            (vscode / "extensions" / ".npmrc").write_text("nodedir=/usr\n")
        if index == 3:
            # Its postinstall skips the download when the binary is there.
            ripgrep = vscode / "node_modules" / "@vscode" / "ripgrep" / "bin"
            ripgrep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(rg, ripgrep / "rg")
        try:
            result = subprocess.run(command, cwd=where, capture_output=True, text=True,
                                    check=False, timeout=900, env=env)
            failure = ((result.stderr.strip()[-300:] or f"exit status {result.returncode}")
                       if result.returncode else "")
        except (OSError, subprocess.TimeoutExpired) as error:
            failure = str(error)
        if failure:
            return f"none (`{' '.join(command[1:3])}` in {where.name} failed: {failure})"
    # VS Code looks for its bundled modules in an asar archive; the plain folder serves.
    asar = vscode / "node_modules.asar"
    if asar.is_dir() and not asar.is_symlink():
        shutil.rmtree(asar)
    asar.unlink(missing_ok=True)
    asar.symlink_to("node_modules")
    if not code_server_path(settings).exists():
        return f"none ({code_server_path(settings)} is missing after the install)"
    marker.write_bytes(lock)
    return str(code_server_path(settings))


STATICCHECK_MODULE = "honnef.co/go/tools/cmd/staticcheck"


def install_staticcheck() -> str:
    """Staticcheck, built by ``go install`` at its pinned version from the Go module proxy
    (checked against Go's checksum database) into .stack/vendor/bin. Optional: without Go, or
    when the build fails, Go files get ``go vet`` alone and the answer says so."""
    if VENDOR_STATICCHECK.exists():
        try:
            version = subprocess.run([str(VENDOR_STATICCHECK), "-version"], capture_output=True,
                                     text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            version = ""
        if STATICCHECK_VERSION.lstrip("v") in version:
            return str(VENDOR_STATICCHECK)
    go = shutil.which("go")
    if go is None:
        return "none (no go)"
    VENDOR_STATICCHECK.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([go, "install", f"{STATICCHECK_MODULE}@{STATICCHECK_VERSION}"],
                                capture_output=True, text=True, timeout=900, check=False,
                                env={**os.environ, "GOBIN": str(VENDOR_STATICCHECK.parent),
                                     "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
        failure = result.stderr.strip()[-300:] if result.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = str(error)
    return f"none (`go install` failed: {failure})" if failure else str(VENDOR_STATICCHECK)


#: The chart's checkers, built by ``go install`` at pinned versions from the Go module proxy.
CHART_TOOLS = {
    "helm": ("helm.sh/helm/v4/cmd/helm", "v4.3.2"),
    "kubeconform": ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.7.0"),
}
#: The Kubernetes kinds' JSON schemas (strict: unknown fields refused) for kubeconform, from the
#: kubernetes-validate wheel (it carries yannh/kubernetes-json-schema's for each version).
KUBERNETES_SCHEMAS = PinnedWheel(
    component="Kubernetes 1.34 JSON schemas",
    requirement="kubernetes-validate==1.37.0",
    filename="kubernetes_validate-1.37.0-py3-none-any.whl",
    sha256="85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9",
    members=("kubernetes_validate/kubernetes-json-schema/v1.34.0-local-strict/",),
)
KUBERNETES_VERSION = "1.34.0"


def standalone(schema: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``schema`` with every ``$ref`` into ``definitions`` written out in place (kubeconform
    reads one file per kind); a definition inside itself (only CRDs' own schema types recurse)
    becomes ``{}``."""
    if isinstance(schema, list):
        return [standalone(item, definitions, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and "#/$defs/" in ref:
        name = ref.split("#/$defs/", 1)[1]
        if name in seen:
            return {}
        rest = {key: standalone(value, definitions, seen) for key, value in schema.items()
                if key != "$ref"}
        return {**standalone(definitions[name], definitions, (*seen, name)), **rest}
    return {key: standalone(value, definitions, seen) for key, value in schema.items()}


def chart_tool_path(settings: Settings, name: str) -> Path:
    return settings.vendor_dir / "bin" / name


def kubernetes_schemas(settings: Settings) -> Path:
    return (settings.vendor_dir / "kubernetes-json-schema"
            / f"v{KUBERNETES_VERSION}-standalone-strict")


def install_chart_tools(settings: Settings) -> list[str]:
    """helm and kubeconform (``go install`` at their pinned versions, checked by Go's checksum
    database) and the Kubernetes schemas, for the chart's tests. Optional: without them those
    tests are skipped and say why."""
    notes: list[str] = []
    go = shutil.which("go")
    for name, (module, version) in CHART_TOOLS.items():
        binary = chart_tool_path(settings, name)
        stamp = binary.with_suffix(".version")
        if binary.exists() and stamp.exists() and stamp.read_text() == version:
            continue
        if go is None:
            notes.append(f"{name}: none (no go)")
            continue
        binary.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            result = subprocess.run([go, "install", f"{module}@{version}"], capture_output=True,
                                    text=True, timeout=1800, check=False,
                                    env={**os.environ, "GOBIN": str(binary.parent),
                                         "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
            failure = ((result.stderr.strip()[-300:] or f"exit status {result.returncode}")
                       if result.returncode else "")
        except (OSError, subprocess.TimeoutExpired) as error:
            failure = str(error)
        if failure or not binary.exists():
            notes.append(f"{name}: none (`go install {module}@{version}` failed: {failure})")
            continue
        stamp.write_text(version)
        notes.append(f"{name} {version}: built in {time.monotonic() - started:.0f} s")
    target = kubernetes_schemas(settings)
    if not (target / "configmap-v1.json").exists():
        try:
            wheel = fetch_wheel(KUBERNETES_SCHEMAS, settings.vendor_dir / "wheels")
        except InstallError as error:
            notes.append(f"kubernetes schemas: none ({error})")
            return notes
        prefix = KUBERNETES_SCHEMAS.members[0]
        with zipfile.ZipFile(wheel) as archive:
            files = {member[len(prefix):]: json.loads(archive.read(member))
                     for member in archive.namelist()
                     if member.startswith(prefix) and member.endswith(".json")}
        definitions = files.pop("_definitions.json")["$defs"]
        staged = target.with_name(target.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for name, schema in files.items():
            if "x-kubernetes-group-version-kind" in schema:  # a kind, not a part of one
                (staged / name).write_text(json.dumps(standalone(schema, definitions)))
        shutil.rmtree(target, ignore_errors=True)
        staged.rename(target)
    return notes


def main() -> int:
    settings = Settings.from_env()
    try:
        print(f"kafka broker: {install_kafka(settings)}")
        print(f"tritonserver: {install_triton(settings)}")
        installed = install_debian_packages()
        print(f"debian packages: {' '.join(installed) if installed else 'all present'}")
        for note in install_analyzers(settings):
            print(f"analyzers: {note}", file=sys.stderr)
        print(f"oxlint: {oxlint_path(settings) if oxlint_path(settings).exists() else 'none'}; "
              f"shellcheck: {shutil.which('shellcheck') or 'none'}")
        print("compilers and analyzers for find_bugs: " + ", ".join(
            f"{name} {shutil.which(name) or 'none'}" for name in (
                "go", "gcc", "g++", "javac", "rustc", "clippy-driver", "cppcheck")))
        print(f"dashboard charts: {install_dashboard(settings)}")
        started = time.monotonic()
        print(f"code-server: {install_code_server(settings)} "
              f"({time.monotonic() - started:.0f} s)")
        print(f"staticcheck: {install_staticcheck()}")
        for note in install_chart_tools(settings) or ["helm, kubeconform, schemas: present"]:
            print(f"chart tools: {note}")
        print(f"Error Prone: {install_errorprone()}")
        # Go's first vet compiles the standard library into a cache in memory, staticcheck and
        # mypy analyse theirs: now, not in the first request.
        print("analyzers' caches: " + ", ".join(
            f"{name} {'warm' if done else 'not warmed'}" for name, done in warm().items()))
    except InstallError as error:
        print(f"install failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The container images' contents, without a daemon: no Docker daemon runs here and no
container registry is reachable, so the images cannot be built (hadolint checks the files,
tests/test_deploy.py). What can go wrong inside them is checked instead on a layout of what their
COPY lines take from the build context (``.dockerignore`` applied):

- every module of the services image imports with only the image's code on the path, and every
  package its code imports is in the one file the image installs (requirements.lock);
- every module the chart runs (``python -m ...``) is there;
- each Triton model imports in a process of its own (as the python backend runs it) with only the
  Triton image's code on the path, its packages in the files that image installs;
- the analyzers of the task routes sit where tasks/ looks for them, at make install's pins.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from analytics.dashboard import chart_library
from config.settings import REPO_ROOT, Settings
from infra.install import DEBIAN_PACKAGES
from tasks.errorprone import VENDOR_ERRORPRONE
from tasks.linters import VENDOR_ANALYZERS
from tasks.staticcheck import STATICCHECK_VERSION, VENDOR_STATICCHECK
from tests.dockerfile import Dockerfile, Stage, lay_out, parse
from tests.test_deploy import needs_helm, render

DOCKER = REPO_ROOT / "deploy" / "docker"
SERVICES = parse((DOCKER / "Dockerfile").read_text())
TRITON = parse((DOCKER / "triton.Dockerfile").read_text())
#: Where the Triton image puts tasks/ and its neighbours (its PYTHONPATH).
TRITON_CODE = "/opt/code-assistant"
#: The module Triton's python backend provides to the models it runs.
TRITONS_OWN = "triton_python_backend_utils"


def locked(*files: str) -> set[str]:
    """Distribution names pinned in ``files`` (normalised as pip does)."""
    names = set()
    for name in files:
        for line in (REPO_ROOT / name).read_text().splitlines():
            found = re.match(r"^([A-Za-z0-9._-]+)==", line.strip())
            if found:
                names.add(re.sub(r"[-_.]+", "-", found.group(1)).lower())
    return names


def third_party_imports(root: Path, local: set[str]) -> dict[str, set[str]]:
    """Top-level modules imported by the Python files under ``root`` that are neither the
    standard library nor ``local``: module -> the files importing it."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(str(path.relative_to(root)))
    return found


def unlocked(imports: dict[str, set[str]], allowed: set[str]) -> dict[str, list[str]]:
    """The imports no distribution in ``allowed`` provides: module -> its importers."""
    provided = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in imports.items():
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in provided.get(module, [])}
        if not dists & allowed:
            missing[module] = sorted(files)
    return missing


def in_process(code: str, path: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter of this environment whose only code is ``path`` (the
    repository is not on it: the working directory is an empty folder)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(str(p) for p in path),
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


IMPORT_ALL = """
import importlib, json, pkgutil, sys
failed = {}
for package in sys.argv[1:] or %s:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        try:
            importlib.import_module(info.name)
        except Exception as error:
            failed[info.name] = f"{type(error).__name__}: {error}"
print(json.dumps(failed))
"""


def laid_out(factory: pytest.TempPathFactory, dockerfile: Dockerfile, name: str) -> Path:
    """The image's ``/`` as its final stage's context COPY lines fill it."""
    root = factory.mktemp(name)
    missing = lay_out(dockerfile.final, REPO_ROOT, root)
    assert missing == [], f"COPY sources absent or ignored: {missing}"
    return root


@pytest.fixture(scope="module")
def services_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return laid_out(tmp_path_factory, SERVICES, "services-image")


@pytest.fixture(scope="module")
def triton_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return laid_out(tmp_path_factory, TRITON, "triton-image")


def packages(app: Path) -> list[str]:
    return sorted(p.name for p in app.iterdir() if (p / "__init__.py").exists())


def test_every_module_of_the_services_image_imports(services_root: Path) -> None:
    app = services_root / SERVICES.final.workdir.lstrip("/")
    assert SERVICES.final.env.get("PYTHONPATH") == SERVICES.final.workdir
    empty = services_root / "empty"
    empty.mkdir()
    done = in_process(IMPORT_ALL % packages(app), [app], empty)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {}


def test_the_services_image_installs_what_its_code_imports(services_root: Path) -> None:
    app = services_root / SERVICES.final.workdir.lstrip("/")
    assert any("requirements.lock" in copy.sources for stage in SERVICES.stages
               for copy in stage.copies), "the image installs requirements.lock"
    imports = third_party_imports(app, set(packages(app)))
    # tasks/serving.py, copied with tasks/, imports it inside its functions, which only the
    # Triton image's models call.
    imports.pop(TRITONS_OWN, None)
    missing = unlocked(imports, locked("requirements.lock"))
    assert missing == {}, f"imported by the image's code, not in requirements.lock: {missing}"


@needs_helm
def test_every_module_the_chart_runs_is_in_the_image(services_root: Path) -> None:
    app = services_root / SERVICES.final.workdir.lstrip("/")
    commands = {" ".join(container.get("command", [])) for doc in yaml.safe_load_all(render())
                if doc and doc["kind"] in ("Deployment", "StatefulSet", "Job")
                for container in doc["spec"]["template"]["spec"]["containers"]
                if not container["image"].split("/")[-1].startswith(("tritonserver", "redis"))}
    modules = {m for command in commands for m in re.findall(r"python -m ([\w.]+)", command)}
    assert {"ws_edge", "workers", "analytics", "analytics.usage"} <= modules, commands
    for module in modules:
        path = app / module.replace(".", "/")
        assert (path / "__main__.py").exists() or path.with_suffix(".py").exists(), module


def test_the_dashboards_chart_library_is_where_the_sink_looks() -> None:
    """The services image's Chart.js copy lands at ``chart_library`` for its STACK_HOME."""
    wanted = chart_library(Settings(stack_home=Path("/opt/stack")))  # the chart's STACK_HOME
    copies = [c for c in SERVICES.final.copies if c.stage is not None]
    assert any(Path(c.destination) == wanted for c in copies), copies


@pytest.mark.parametrize("model", sorted(p.name for p in (REPO_ROOT / "model" / "repository")
                                         .iterdir() if (p / "1" / "model.py").exists()))
def test_each_triton_model_imports_in_the_image(triton_root: Path, model: str,
                                                tmp_path: Path) -> None:
    """Triton's python backend loads each model in a stub process of its own; here a stand-in
    for its ``triton_python_backend_utils`` (the one module Triton itself provides) lets the
    import run, with only the image's code on the path."""
    code = triton_root / TRITON_CODE.lstrip("/")
    assert TRITON.final.env.get("PYTHONPATH") == TRITON_CODE
    version = triton_root / "models" / model / "1"
    assert (version / "model.py").exists()
    (tmp_path / f"{TRITONS_OWN}.py").write_text(
        "class TritonModelException(Exception):\n    pass\n\n"
        "def __getattr__(name):\n    return type(name, (), {})\n")
    done = in_process("import model", [version, code, tmp_path], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_triton_image_installs_what_its_code_imports(triton_root: Path) -> None:
    installed = {src for stage in TRITON.stages for copy in stage.copies for src in copy.sources}
    assert {"requirements.lock", "requirements-runtime.txt"} <= installed
    code = triton_root / TRITON_CODE.lstrip("/")
    local = set(packages(code))
    local |= {p.stem for p in (triton_root / "models").rglob("*.py")}
    imports = third_party_imports(code, local)
    for name, files in third_party_imports(triton_root / "models", local).items():
        imports.setdefault(name, set()).update(files)
    imports.pop(TRITONS_OWN, None)
    missing = unlocked(imports, locked("requirements.lock", "requirements-runtime.txt"))
    assert missing == {}, f"imported in the Triton image, installed by neither file: {missing}"


def image_path(vendored: Path) -> str:
    """Where a path that tasks/ computes from its own location lands in the Triton image."""
    return f"{TRITON_CODE}/{vendored.relative_to(REPO_ROOT).as_posix()}"


def test_the_analyzers_sit_where_tasks_looks_for_them() -> None:
    copied = {c.destination.rstrip("/"): c for c in TRITON.final.copies if c.stage is not None}
    assert image_path(VENDOR_STATICCHECK) in copied
    assert image_path(VENDOR_ERRORPRONE) in copied
    assert image_path(VENDOR_ANALYZERS / "node_modules") in copied
    # Their versions are make install's: the same pin, the same lock, the same pom.
    assert TRITON.args["STATICCHECK_VERSION"] == STATICCHECK_VERSION
    sources = {s for stage in TRITON.stages for c in stage.copies for s in c.sources}
    assert {"infra/analyzers/package-lock.json", "infra/errorprone/pom.xml"} <= sources


#: Debian packages make install adds that the Triton image takes as whole toolchains from their
#: own images instead (Go at staticcheck's version, Temurin's JDK, rustup's Rust with Clippy:
#: rustup's proxies in cargo's bin, the toolchains in RUSTUP_HOME).
TOOLCHAINS = {"golang-go": ("/usr/local/go",), "openjdk-17-jdk-headless": ("/opt/java/openjdk",),
              "rustc": ("/usr/local/cargo", "/usr/local/rustup")}
#: Where the official images keep what the stages copy from them (each image's documented
#: layout): a COPY --from a stage takes either one of these or what the stage itself made.
BASE_IMAGE_PATHS = {"golang": ("/usr/local/go",), "maven": ("/opt/java/openjdk",),
                    "rust": ("/usr/local/rustup", "/usr/local/cargo"),
                    "node": ("/usr/local/bin/node",)}


def base_image(dockerfile: Dockerfile, stage: Stage) -> str:
    """The stage's base image's name (``golang``), its ARG resolved."""
    reference = stage.base
    argument = re.fullmatch(r"\$\{(\w+)\}", reference)
    if argument:
        reference = dockerfile.args[argument.group(1)]
    return reference.split("/")[-1].split(":")[0]


def made_by(stage: Stage, source: str) -> bool:
    """Whether ``source`` (or a folder above it) is named as a path by one of the stage's
    commands, or lies under its WORKDIR (where its commands run)."""
    path = PurePosixPath(source)
    candidates = [str(p) for p in (path, *path.parents) if str(p) != "/"]
    if stage.workdir != "/" and path.is_relative_to(stage.workdir):
        return True
    return any(re.search(rf"(?<![\w./-]){re.escape(c)}(?![\w.-])", run)
               for c in candidates for run in stage.runs)


def test_every_copy_from_a_stage_takes_what_that_stage_has() -> None:
    """A source path a stage never makes (an output folder misnamed, a base image's path
    guessed) would fail the build: each is its base image's, or its own commands' output."""
    for dockerfile in (SERVICES, TRITON):
        stages = {stage.name: stage for stage in dockerfile.stages if stage.name}
        for copy in (c for stage in dockerfile.stages for c in stage.copies if c.stage):
            stage = stages[copy.stage]
            known = BASE_IMAGE_PATHS.get(base_image(dockerfile, stage), ())
            for source in copy.sources:
                assert source in known or made_by(stage, source), (
                    f"COPY --from={copy.stage} {source}: the stage does not make it")


def test_the_triton_image_has_every_find_bugs_tool(tmp_path: Path) -> None:
    wanted = {name for package in DEBIAN_PACKAGES if "find_bugs" in package.why
              for name in package.packages}
    apt = {word for run in TRITON.final.runs if "apt-get install" in run
           for word in run.split("apt-get install", 1)[1].split("&&")[0].split()
           if not word.startswith("-")}
    copied = {c.destination for c in TRITON.final.copies}
    missing = {name for name in wanted
               if name not in apt and not set(TOOLCHAINS.get(name, ("-",))) <= copied}
    assert missing == set(), f"find_bugs needs {missing}, which the Triton image lacks"
    env = TRITON.final.env
    assert {"/usr/local/go/bin", "/opt/java/openjdk/bin", "/usr/local/cargo/bin"} <= set(
        env["PATH"].split(":"))
    assert env["PATH"].endswith(":$PATH"), "the base image's PATH (/usr/local/bin) is kept"
    assert env["RUSTUP_HOME"] == "/usr/local/rustup"


def test_the_analyzers_wrappers_have_their_interpreter() -> None:
    """oxlint's and tsc's npm entry points are node scripts: node must be in the image."""
    wrapper = VENDOR_ANALYZERS / "node_modules" / ".bin" / "oxlint"
    if not wrapper.exists():
        pytest.skip("oxlint is not installed here (`make install`)")
    if wrapper.read_text(errors="replace").startswith("#!/usr/bin/env node"):
        assert "/usr/local/bin/node" in {c.destination for c in TRITON.final.copies}


def test_the_reader_reads_what_it_is_given() -> None:
    """The layout above is only as good as this reader of Dockerfiles."""
    parsed: Dockerfile = parse("ARG A=1\n# c\nFROM x AS one\nWORKDIR /w\nCOPY a/ \\\n  b/\n"
                               "FROM y\nCOPY --from=one /o /p\nENV P=/q \\\n    R=s\n")
    assert parsed.args == {"A": "1"}
    assert [(s.base, s.name) for s in parsed.stages] == [("x", "one"), ("y", None)]
    assert parsed.stages[0].workdir == "/w"
    assert [(c.sources, c.destination, c.stage) for s in parsed.stages for c in s.copies] == [
        (("a/",), "b/", None), (("/o",), "/p", "one")]
    assert parsed.final.env == {"P": "/q", "R": "s"}

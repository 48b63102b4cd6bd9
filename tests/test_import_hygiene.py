"""The engine never knows the UI: every hololoom_core module imports with textual unavailable."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_imports_without_textual() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "textual" or name.startswith("textual.") or name.startswith("hololoom_tui"):
                    raise ImportError(f"blocked: {name}")
                return None
        sys.meta_path.insert(0, Block())
        import hololoom_core
        count = 0
        for module in pkgutil.walk_packages(hololoom_core.__path__, "hololoom_core."):
            if module.name.endswith("__main__"):
                continue
            importlib.import_module(module.name)
            count += 1
        assert "textual" not in sys.modules
        print(count)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 20

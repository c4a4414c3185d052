import subprocess
import sys


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, prosaic_evals, prosaic_evals.spec, prosaic_evals.families;"
        "import prosaic_evals.models, prosaic_evals.stats;"
        "print(sorted(m for m in ('torch', 'vllm', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

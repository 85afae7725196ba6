# Build Hearth's Windows installer: PyInstaller bundle, self-test, Inno Setup.
#
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
#
# Needs: Python 3.11 (x64) as `py -3.11`, Visual Studio 2022 Build Tools with
# "Desktop development with C++" and CMake (llama-cpp-python compiles from
# source), and Inno Setup 6 (ISCC.exe). Output: dist\Hearth\ and
# dist\hearth-<version>-windows-x64-setup.exe
param(
    [string]$Python = "py -3.11",
    [string]$Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe"
)
$ErrorActionPreference = "Stop"
$Root = (Resolve-Path "$PSScriptRoot\..\..").Path
Set-Location $Root

$Version = (Select-String -Path pyproject.toml -Pattern '^version\s*=\s*"(.+)"').Matches[0].Groups[1].Value
$Venv = Join-Path $Root ".venv"
$Py = Join-Path $Venv "Scripts\python.exe"

# 1. Environment: the project venv with the test and installer extras.
if (-not (Test-Path $Py)) {
    Invoke-Expression "$Python -m venv `"$Venv`""
    & $Py -m pip install --upgrade pip wheel setuptools
}
# llama.cpp for every AVX2 x64 CPU, not only the build machine's (GGML_NATIVE=OFF:
# AVX2+FMA baseline). pip's wheel cache ignores CMAKE_ARGS: force a fresh build.
$env:CMAKE_ARGS = "-DGGML_NATIVE=OFF"
& $Py -m pip install -e ".[test,installer]"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
$LlamaVersion = (& $Py -c "import llama_cpp; print(llama_cpp.__version__)")
& $Py -m pip install --force-reinstall --no-deps --no-cache-dir "llama-cpp-python==$LlamaVersion"
if ($LASTEXITCODE -ne 0) { throw "portable llama-cpp-python build failed" }

# 2. The embedder's ONNX int8 exports, shipped so the app need not export.
& $Py installer\prebuild_embedder.py build\prebuilt-embedder
if ($LASTEXITCODE -ne 0) { throw "embedder export failed" }

# 3. The bundle (installer\windows\hearth.ico is committed; remake it with
#    installer\make_icons.py --ico installer\windows\hearth.ico).
$env:HEARTH_PREBUILT_EMBEDDER = Join-Path $Root "build\prebuilt-embedder"
if (Test-Path dist\Hearth) { Remove-Item -Recurse -Force dist\Hearth }
& $Py -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installer\hearth.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# 4. Self-test of the fresh bundle. Hearth.exe is a windowed app (no
#    console), so it writes its PASS/FAIL lines to a report file.
$Report = Join-Path $Root "dist\self-test-bundle.txt"
if (Test-Path $Report) { Remove-Item $Report }
$p = Start-Process -FilePath "dist\Hearth\Hearth.exe" -ArgumentList "--self-test", "--report", "`"$Report`"" -Wait -PassThru -NoNewWindow
if (Test-Path $Report) { Get-Content $Report }
if ($p.ExitCode -ne 0) { throw "the bundle's self-test failed (exit $($p.ExitCode))" }

# 5. Size report, then the installer.
& $Py installer\bundle_size.py dist\Hearth | Tee-Object -FilePath dist\bundle-size.txt
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6 not found at $Iscc (pass -Iscc PATH)" }
& $Iscc "/DAppVersion=$Version" installer\windows\hearth.iss
if ($LASTEXITCODE -ne 0) { throw "ISCC failed" }
Get-Item "dist\hearth-$Version-windows-x64-setup.exe"

#!/usr/bin/python3
"""Checks that every ```cpp block of README.md and docs/*.md compiles against today's headers.

All blocks go into one generated translation unit, checked by one `g++ -fsyntax-only` (about 10 s;
docs/building.md).  Each block becomes `namespace snippet_<n> { ... void run() { ... } }`: its
`#include` lines are hoisted to the top of the file (so they reach every later block too), its
`using namespace` lines, namespace aliases and the declarations that start at column 0 (`class`,
`struct`, `template`, `enum`, `int main`, ..., up to the line where their braces close) stay at
namespace scope, and every other line goes into the body of run().  A block's `int main` is renamed
and returns 0.  Every block sees `#include <gluino/gluino.hpp>`, <iostream> and
`using namespace gluino;`, which the docs' fragments take for granted.  Each generated line is
preceded by `#line <n> "<file.md>"`, so the compiler's errors name the markdown file and line.

Conventions: HTML comments (renderers hide them) in the lines right above the opening fence, with
no blank line between:
  <!-- snippet-setup: auto x = nd::zeros<float>({4, 20}); -->
      code the block uses but that the prose or an earlier block defines; it goes at the start of
      run(), before the block's own statements (so the block's classes cannot use it; its
      statements can, and it can use the block's classes).  May span several lines.
  <!-- snippet: no-compile (reason) -->
      a block that is not a program fragment: a synopsis of declarations, or a deliberate error.
      The reason is required.
Prints the compiler's errors and exits 1 if a block does not compile.
Usage: /usr/bin/python3 scripts/check_doc_snippets.py [--keep] [--header-only]
  --keep         keep the generated file and print its path
  --header-only  compile the library's function bodies too, as without GLUINO_PRECOMPILED (about 25 s)
"""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_LEVEL = re.compile(r"^(class|struct|template|enum|union|namespace \w+ \{|int main|using \w+ =)\b")
HOISTED = re.compile(r"^\s*(using namespace [\w:]+;|namespace \w+ = [\w:]+;)\s*(//.*)?$")
COMMENT = re.compile(r"<!--\s*(snippet-setup|snippet)\s*:(.*?)-->", re.S)


def blocks(path):
    """Yields (fence line, code lines [(line number, text)], setup [(line, text)], no-compile reason)."""
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```cpp":
            i += 1
            continue
        fence = i
        # The HTML comments directly above the fence: the lines between it and the blank line before.
        j = fence
        while j > 0 and lines[j - 1].strip():
            j -= 1
        above = "\n".join(lines[j:fence])
        setup, skip = [], None
        for m in COMMENT.finditer(above):
            first = j + 1 + above[:m.start()].count("\n")
            if m.group(1) == "snippet":
                reason = re.fullmatch(r"\s*no-compile\s*\((.+)\)\s*", m.group(2), re.S)
                if not reason:
                    sys.exit(f"{path}:{first}: expected <!-- snippet: no-compile (reason) -->")
                skip = reason.group(1)
            else:
                setup += [(first + k, text) for k, text in enumerate(m.group(2).split("\n"))]
        code = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            code.append((i + 1, lines[i]))
            i += 1
        yield fence + 1, code, setup, skip
        i += 1


def generate(files):
    includes, body, count, skipped = [], [], 0, 0
    for path in files:
        for fence, code, setup, skip in blocks(path):
            if skip is not None:
                skipped += 1
                continue
            count += 1
            scope, stmts, depth, in_decl, is_main = [], [], 0, False, False
            for n, text in code:
                line = (f'#line {n} "{path}"', text)
                if text.startswith("#include"):
                    includes.append(line)
                elif not in_decl and HOISTED.match(text):
                    scope.append(line)
                elif in_decl or TOP_LEVEL.match(text):
                    if not in_decl:
                        is_main = text.startswith("int main(")
                    depth += text.count("{") - text.count("}")
                    in_decl = depth > 0 or not text.rstrip().endswith((";", "}"))
                    if is_main:  # a program: main, renamed inside the namespace, returns 0 at its end
                        text = text.replace("int main(", "int snippet_main(")
                        if not in_decl:
                            text = "return 0; " + text
                    scope.append((line[0], text))
                else:
                    stmts.append(line)
            body.append((f"// {path}:{fence}", f"namespace snippet_{count} {{"))
            body += scope
            body.append(("", "void run() {"))
            body += [(f'#line {n} "{path}"', text) for n, text in setup]
            body += stmts
            body.append(("", "}\n}"))
    out = ["#include <gluino/gluino.hpp>", "#include <iostream>"]
    for directive, text in includes + [("", "using namespace gluino;")] + body:
        out += [directive, text] if directive else [text]
    return "\n".join(out) + "\n", count, skipped


def main():
    os.chdir(ROOT)
    files = ["README.md"] + sorted(glob.glob("docs/*.md"))
    source, count, skipped = generate(files)
    if count == 0:
        print("doc snippets: no ```cpp block found in README.md and docs/*.md")
        return 1
    tmp = tempfile.mkdtemp(prefix="gluino_doc_snippets_")
    cpp = os.path.join(tmp, "doc_snippets.cpp")
    with open(cpp, "w", encoding="utf-8") as f:
        f.write(source)
    mpi = shlex.split(subprocess.run(["mpicxx", "--showme:compile"], capture_output=True, text=True).stdout) \
        if shutil.which("mpicxx") else []
    # GLUINO_PRECOMPILED (docs/building.md): the headers only declare their float and double
    # instantiations and their non-template functions (the tests compile those), which halves the
    # time; the snippets' own code, every name, overload and type in it, is checked in full.
    precompiled = [] if "--header-only" in sys.argv else ["-DGLUINO_PRECOMPILED"]
    cmd = ["g++", "-std=c++20", "-fsyntax-only", "-march=native", "-Iinclude", "-isystem", "/usr/include/eigen3",
           "-DONNX_NAMESPACE=onnx", "-DONNX_ML=1", "-DOMPI_SKIP_MPICXX=1", *mpi, *precompiled,
           "-Wall", "-Wextra", "-Werror", "-fmax-errors=200",
           # A snippet shows a call and may leave its result or a parameter unused.
           "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-parameter",
           "-Wno-unused-local-typedefs", "-Wno-unused-function", cpp]
    start = time.time()
    result = subprocess.run(cmd)
    took = time.time() - start
    if "--keep" in sys.argv:
        print(f"doc snippets: generated {cpp}")
    else:
        shutil.rmtree(tmp)
    if result.returncode != 0:
        print(f"doc snippets: FAILED (errors above name the markdown file and line; {count} blocks, {took:.0f} s)")
        return 1
    print(f"doc snippets: {count} blocks compile ({skipped} marked no-compile), {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Extracts the built-in template sources from Sources/ChatTemplates/ChatTemplate.swift (Swift string literals)
so make_fixtures.py renders exactly what the library ships. Usage: python3 builtins_from_swift.py > builtins.json"""
import json, re, pathlib
src = (pathlib.Path(__file__).parents[3] / "Sources/ChatTemplates/ChatTemplate.swift").read_text()
def unescape(s): return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)
out = {}
for name in ("chatml", "llama3"):
    m = re.search(r'case \.' + name + r':\s*return "((?:[^"\\]|\\.)*)"', src)
    out[name] = unescape(m.group(1))
m = re.search(r'case \.alpaca:.*?return """\n(.*?)\n\s*"""', src, re.S)
out["alpaca"] = unescape("\n".join(line[12:] for line in m.group(1).split("\n")))
print(json.dumps(out, ensure_ascii=False))

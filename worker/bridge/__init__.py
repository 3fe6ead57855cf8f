"""The thin adapters between Python and workerd's JS objects (Pyodide only): conversions (`js_interop`), building
responses (`responses`) and relaying streams chunk by chunk (`streams`). Everything above them can be driven by
CPython fakes.
"""

"""Write the protocol's JSON Schema next to the code: ``python -m schemas``."""

from schemas.protocol import SCHEMA_PATH, render

if __name__ == "__main__":
    SCHEMA_PATH.write_bytes(render())
    print(f"wrote {SCHEMA_PATH}")

import pandas as pd
import pytest

import layerlab as ll
from layerlab.frames import schema


@pytest.mark.parametrize("kind", sorted(schema.FRAMES))
def test_empty_frames_match_the_contract(kind):
    df = schema.empty(kind)
    assert schema.validate(df, kind) is df
    assert list(df.columns) == schema.columns(kind)


def test_validate_names_wrong_dtype_and_missing_columns():
    df = schema.empty("images")
    with pytest.raises(ll.SchemaError, match="size: object"):
        schema.validate(df.astype({"size": object}), "images")
    with pytest.raises(ll.SchemaError, match="expected"):
        schema.validate(df.drop(columns=["size"]), "images")


def test_an_unknown_file_kind_is_refused():
    row = pd.DataFrame([{c: None for c in schema.columns("files")}
                        | {"layer_id": "x", "path": "/a", "kind": "weird", "size": 0, "mode": 0, "uid": 0, "gid": 0}])
    with pytest.raises(ll.SchemaError, match="unknown kind values \\['weird'\\]"):
        schema.coerce(row, "files")
    # kind is categorical with the contract's categories: a frame with others is refused as well
    ok = schema.coerce(row.assign(kind="file"), "files")
    bad = ok.assign(kind=pd.Categorical(["weird"]))
    with pytest.raises(ll.SchemaError, match="kind has categories \\['weird'\\]"):
        schema.validate(bad, "files")
    assert list(schema.validate(ok, "files")["kind"].cat.categories) == list(schema.FILE_KINDS)


def test_unknown_frame_lists_known_ones():
    with pytest.raises(ll.SchemaError, match="known frames"):
        schema.columns("nope")


def test_describe_documents_every_column():
    d = ll.describe("files")
    assert list(d["column"]) == schema.columns("files")
    assert d["meaning"].str.len().min() >= 5


def test_docs_frames_md_is_the_schema():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "frames.md"
    assert doc.read_text() == schema.markdown(), "regenerate: python -m layerlab.frames.schema > docs/frames.md"

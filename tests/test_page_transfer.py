"""The Transfer learning page in AppTest: strategies switched update the frozen/trainable map at once."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from conftest import ROOT, rerun


def test_strategies_switch_the_map_and_groups():
    at = rerun(AppTest.from_file(str(ROOT / "pages" / "transfer.py"), default_timeout=180))
    # 5-class head (digits 5-9): 512 * 5 + 5 = 2,565 trainable under feature extraction
    assert at.metric[0].value == "2,565 of 11,179,077"
    assert "pretrained here on digits 0-4" in "\n".join(i.value for i in at.info)
    assert "for p in model.parameters()" in at.code[0].value
    groups = at.dataframe[1].value
    assert groups["group"].tolist() == ["head (fc)"] and groups["parameters"].tolist() == [2_565]

    at.selectbox(key="tl_strategy").set_value("finetune")
    rerun(at)
    assert at.metric[0].value == f"{2_565 + 8_393_728:,} of 11,179,077"
    at.slider(key="tl_k").set_value(2)
    rerun(at)
    assert at.metric[0].value == f"{2_565 + 8_393_728 + 2_099_712:,} of 11,179,077"
    groups = at.dataframe[1].value
    assert groups["group"].tolist() == ["head (fc)", "backbone"]
    assert groups["learning rate"].tolist() == [1e-3, 1e-4]
    assert "model.layer4, model.layer3" in at.code[0].value

    at.selectbox(key="tl_strategy").set_value("scratch")
    rerun(at)
    assert at.metric[0].value == "11,179,077 of 11,179,077"
    assert not at.error

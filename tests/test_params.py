"""Parameter counts per component and the paper's Table I figures."""

import importlib.util
import json
from pathlib import Path

import pytest
from text_model_stand_ins import TINY_BERT, build_tiny_bert, save_tiny_preset

from ser_keras.models import PAPER_TOTAL_PARAMS_M, TextEncoderParameters, parameter_table
from ser_keras.models.params import parameter_table_json, parameter_table_markdown

VGGISH_PARAMETERS = 72_141_184


@pytest.fixture(scope="module")
def bert_base_rows():
    """Table I for the bert_base_en_uncased architecture (random weights, built once)."""
    return parameter_table()


def millions(count):
    return round(count / 1e6, 2)


def test_table_one_encoder_layers_and_pooler_column(bert_base_rows):
    assert [row.num_text_layers for row in bert_base_rows] == [12, 6, 4, 2]
    assert [millions(row.encoder_layers_and_pooler) for row in bert_base_rows] == [85.65, 43.12, 28.94, 14.77]


def test_bert_base_components(bert_base_rows):
    teacher = bert_base_rows[0]
    assert teacher.bert_embeddings == 23_837_184
    assert teacher.transformer_layers == 12 * 7_087_872
    assert teacher.pooler == 590_592
    assert teacher.bert_embeddings + teacher.transformer_layers + teacher.pooler == 109_482_240
    assert teacher.vggish == VGGISH_PARAMETERS
    assert teacher.fusion_head == 2_552_644
    assert teacher.fusion_attention == 2_428_416


def test_paper_total_params_are_reproduced(bert_base_rows):
    for row in bert_base_rows:
        assert row.paper_total_m == PAPER_TOTAL_PARAMS_M[row.num_text_layers]
        assert millions(row.paper_count) == row.paper_total_m
        # Whole components alone do not reproduce it.
        assert millions(row.encoder_layers_and_pooler + row.vggish) != row.paper_total_m
        assert millions(row.encoder_layers_and_pooler + row.vggish + row.fusion_head) != row.paper_total_m
        assert millions(row.total) != row.paper_total_m


def test_markdown_and_json_reports(bert_base_rows):
    markdown = parameter_table_markdown(bert_base_rows)
    teacher_line = next(line for line in markdown.splitlines() if line.startswith("| BERT_BASE"))
    cells = [cell.strip() for cell in teacher_line.strip("|").split("|")]
    assert cells[1:] == ["12", "23.84", "85.05", "0.59", "85.65", "72.14", "2.55", "2.43", "184.18", "157.91", "157.91"]
    assert "without its two multi-head-attention layers" in markdown
    assert "reproduces the paper's Total Params to the printed 0.01 M" in markdown
    assert "-0.12 M" in markdown  # layers + pooler + VGGish, the closest whole-component sum
    report = json.loads(parameter_table_json(bert_base_rows))
    assert [row["paper_count"] for row in report["rows"]] == [row.paper_count for row in bert_base_rows]
    assert report["rows"][3]["transformer_layers"] == 2 * 7_087_872
    assert "multi-head-attention" in report["paper_count_definition"]


def test_tiny_encoder_components_add_up():
    backbone = build_tiny_bert()
    counts = TextEncoderParameters.from_backbone(backbone)
    hidden, intermediate = TINY_BERT["hidden_dim"], TINY_BERT["intermediate_dim"]
    per_layer = 4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
    assert counts.layers == (per_layer,) * TINY_BERT["num_layers"]
    assert counts.pooler == hidden * hidden + hidden
    assert counts.embeddings == (TINY_BERT["vocabulary_size"] + TINY_BERT["max_sequence_length"] + 2 + 2) * hidden
    rows = parameter_table(backbone, layer_counts=[3, 1], vggish_parameters=0)
    assert [row.transformer_layers for row in rows] == [3 * per_layer, per_layer]
    assert all(row.paper_total_m is None for row in rows)
    with pytest.raises(ValueError, match="outside 1..3"):
        parameter_table(backbone, layer_counts=[4], vggish_parameters=0)


def test_benchmark_cli_prints_json_for_a_preset(tmp_path, capsys):
    script = Path(__file__).resolve().parents[1] / "training_scripts" / "benchmark.py"
    spec = importlib.util.spec_from_file_location("benchmark", script)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    preset = save_tiny_preset(tmp_path / "bert")
    assert benchmark.main(["--params", "--json", "--text-preset", preset, "--layers", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    expected = TextEncoderParameters.from_backbone(build_tiny_bert())
    assert len(rows) == 1 and rows[0]["num_text_layers"] == 2
    assert rows[0]["transformer_layers"] == sum(expected.layers[:2])
    assert rows[0]["vggish"] == VGGISH_PARAMETERS
    assert rows[0]["paper_total_m"] is None

"""training/lexical.py: the reference the Worker's functions/model/lexical.ts follows."""
import importlib.util
import random
from pathlib import Path

import numpy as np

from training import lexical

ROOT = Path(__file__).resolve().parents[2]


def _reference():
    # scripts/eval_reference.py writes the same definitions apart from training/ (it checks both sides).
    spec = importlib.util.spec_from_file_location("eval_reference", ROOT / "scripts" / "eval_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scores_agree_with_the_independent_reference():
    rng = random.Random(3)
    support = [np.array([rng.randrange(25) for _ in range(rng.randrange(0, 7))]) for _ in range(15)]
    ways = [i % 4 for i in range(15)]
    query = [np.array([rng.randrange(35) for _ in range(rng.randrange(0, 6))]) for _ in range(9)]
    a = lexical.scores(support, np.array(ways), 4, query)
    b = _reference().lexical_scores([set(map(int, s)) for s in support], ways, 4, [set(map(int, q)) for q in query])
    assert np.abs(a - b).max() < 1e-12


def test_scores_favour_the_label_whose_examples_share_the_words():
    s = lexical.scores([np.array([1, 2]), np.array([3, 4])], np.array([0, 1]), 2, [np.array([1, 2, 9]), np.array([])])
    assert s[0, 0] > 0.5 and s[0, 1] == 0  # 9 is in no example: it lowers the score, it does not add one
    assert s[0, 0] < 1
    assert (s[1] == 0).all()  # no token: no evidence


def test_the_lexical_classifier_moves_a_tie_to_the_lexical_match():
    from training.algorithms import edge_no_meta_model

    model = edge_no_meta_model(4)
    sx = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    qx = np.array([[1, 1, 0, 0]], np.float32)  # equidistant from both labels
    clf = lexical.edge_lexical_classifier(model, weight=8.0)
    assert clf(sx, np.array([0, 1]), qx, ["top up my card", "send money abroad"], ["send money"])[0] == 1
    assert clf(sx, np.array([0, 1]), qx, ["top up my card", "send money abroad"], ["top up"])[0] == 0

"""Sampler and partitions on the real data: no meta-test label or text may reach meta-training."""
import json

import numpy as np
import pytest

from training import data
from training.data import EpisodeSampler, LabeledEmbeddings


@pytest.mark.parametrize("set_name", data.SETS)
def test_label_split_has_no_leakage(set_name):
    part = data.label_split_partition(set_name)
    spec = data.load_splits()["label_splits"][set_name]
    test_labels = {f"{set_name}/{l}" for l in spec["meta_test"]}
    learn = part.meta_train + part.meta_valid
    assert learn and part.meta_test["query"]
    assert not {u.label for u in learn} & test_labels
    assert {u.label for u in part.meta_test["query"]} == test_labels
    assert not {u.text for u in learn} & {u.text for u in part.meta_test["query"]}
    assert not {u.label for u in part.meta_train} & {u.label for u in part.meta_valid}


@pytest.mark.parametrize("target", data.SETS)
def test_cross_dataset_has_no_leakage(target):
    part = data.cross_dataset_partition(target)
    learn = part.meta_train + part.meta_valid
    assert not any(u.label.startswith(f"{target}/") for u in learn)
    test_texts = {u.text for rows in part.meta_test.values() for u in rows}
    assert not {u.text for u in learn} & test_texts
    # the raw files do share some texts across sets: the partition removed them rather than never had them
    assert {u.label.split("/")[0] for u in part.meta_train} == set(data.SETS) - {target}


def test_sampler_draws_only_from_its_partition():
    part = data.label_split_partition("banking77")
    y, labels = data.label_index(part.meta_train)
    emb = LabeledEmbeddings(np.zeros((len(y), 4)), y, labels, [u.text for u in part.meta_train])
    sampler = EpisodeSampler(emb, ways=5, shots=2, query=3, seed=1, dynamic=True)
    test_texts = {u.text for u in part.meta_test["query"]}
    for _ in range(50):
        ep = sampler.sample()
        assert len(set(ep.classes)) == 5 and ep.support.shape == (10,) and ep.query.shape == (15,)
        assert not set(ep.support) & set(ep.query)
        assert not {emb.texts[i] for i in np.concatenate([ep.support, ep.query])} & test_texts
        assert (emb.y[ep.support] == ep.classes[ep.support_y]).all()


def test_all_way_and_dynamic_weights():
    y = np.repeat(np.arange(6), [20, 20, 20, 20, 6, 6])
    emb = LabeledEmbeddings(np.random.default_rng(0).normal(size=(len(y), 3)), y, [str(i) for i in range(6)])
    ep = EpisodeSampler(emb, ways=None, shots=5, query=1).sample()
    assert sorted(ep.classes) == list(range(6))
    s = EpisodeSampler(emb, ways=2, shots=1, query=1, dynamic=True)
    p0 = s.probabilities()
    assert p0[4] > p0[0]  # rarer labels sampled more
    for _ in range(30):
        s.update(np.array([1, 2]), np.array([3.0, 0.0]))
    assert s.probabilities()[1] > s.probabilities()[2]  # harder labels sampled more
    with pytest.raises(data.DataError):
        EpisodeSampler(emb, ways=6, shots=10, query=10)


def test_same_group_episodes_stay_within_one_dataset():
    part = data.all_sets_partition()
    y, labels = data.label_index(part.meta_valid)
    emb = LabeledEmbeddings(np.zeros((len(y), 2)), y, labels)
    sampler = EpisodeSampler(emb, ways=8, shots=2, query=1, seed=3, dynamic=True, same_group=True)
    seen = set()
    for _ in range(40):
        sets = {labels[c].split("/")[0] for c in sampler.sample().classes}
        assert len(sets) == 1
        seen |= sets
    assert seen == set(data.SETS)
    assert len(EpisodeSampler(emb, ways=None, shots=2, query=1, same_group=True).sample().classes) in (150, 77, 64)


def _feedback_row(fid, task, text, **kw):
    row = {"feedbackId": fid, "taskId": task, "executionId": "e", "taskKind": "classification", "taskLabels": [],
           "text": text, "output": None, "predictedLabel": None, "rating": None, "correctedLabel": None,
           "correctedOutput": None, "modelVersion": None, "createdAt": "2026-11-29T00:00:00.000Z"}
    row.update(kw)
    return json.dumps(row)


def test_feedback_export_becomes_per_task_meta_train_rows(tmp_path, monkeypatch):
    (tmp_path / "feedback").mkdir()
    (tmp_path / "feedback" / "2026-11-28T00:00:00.000Z.jsonl").write_text("\n".join([
        _feedback_row("f1", "t1", "where is my card", correctedLabel="card_arrival"),
        _feedback_row("f2", "t1", "card never came", predictedLabel="card_arrival", rating=1),
        _feedback_row("f3", "t1", "wrong guess", predictedLabel="balance", rating=-1),  # no right label: skipped
        _feedback_row("f4", "t2", "hello", predictedLabel="greeting", rating=None),       # unconfirmed: skipped
    ]) + "\n")
    # a later export repeats f1 with a newer correction: the newest wins, no duplicate row
    (tmp_path / "feedback" / "2026-11-29T00:00:00.000Z.jsonl").write_text(
        _feedback_row("f1", "t1", "where is my card", correctedLabel="card_delivery", createdAt="2026-11-29T01:00:00.000Z") + "\n")
    rows = data.load_feedback(tmp_path / "feedback")
    assert sorted((u.text, u.label) for u in rows) == [
        ("card never came", "feedback-t1/card_arrival"), ("where is my card", "feedback-t1/card_delivery")]

    # the scheduled job's partition folds them into meta_train only, never into meta_valid
    monkeypatch.setenv("ADAPTAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_file", lambda rel: [data.Utterance(f"{rel} text", f"{rel.split('/')[0]}/x")])
    part = data.all_sets_partition(feedback=True)
    assert {u.label for u in part.meta_train if u.label.startswith(data.FEEDBACK_PREFIX)} == {
        "feedback-t1/card_arrival", "feedback-t1/card_delivery"}
    assert not any(u.label.startswith(data.FEEDBACK_PREFIX) for u in part.meta_valid)
    assert not any(u.label.startswith(data.FEEDBACK_PREFIX) for u in data.all_sets_partition().meta_train)


def test_malformed_feedback_names_file_and_line(tmp_path):
    (tmp_path / "x.jsonl").write_text(_feedback_row("f1", "t1", "ok", correctedLabel="a") + "\n{\"taskId\": 1}\n")
    with pytest.raises(data.DataError, match=r"x\.jsonl:2: not a feedback export row"):
        data.load_feedback(tmp_path)


@pytest.mark.parametrize("corpus", ["sets+sgd", "sets+sgd-labelled"])
def test_sgd_tuning_corpus_is_cross_clean(corpus):
    from training.distill import tuning_corpus

    target = "banking77"
    tune, valid = tuning_corpus(target, corpus)
    plain, plain_valid = tuning_corpus(target)
    banned = data.set_texts(target)  # every split of the target, not just its test texts
    assert not set(tune) & banned and not set(valid) & banned
    assert valid == [t for t in plain_valid if t not in banned]  # early stopping stays on the sets' valid texts
    added = set(tune) - set(plain)
    assert len(added) > 20_000 and added <= set(data.load_texts("sgd/train")) | set(data.load_texts("sgd/utterances_train"))
    assert len(tune) - len([t for t in plain if t not in banned]) == len(added)  # each sgd text once


@pytest.mark.parametrize("target", ["banking77", None])
def test_stopping_texts_are_text_the_table_never_reads(target):
    """sgd's valid turns, less any text of the held-out target (cross-clean) and any tuning text."""
    from training.distill import stopping_texts, tuning_corpus

    tune, _ = tuning_corpus(target, "sets-clean" if target else "sets")
    texts = stopping_texts("sgd", target, exclude=set(tune))
    banned = data.set_texts(target) if target else set()
    assert len(texts) > 3_000 and len(texts) == len(set(texts))
    assert set(texts) <= set(data.load_texts("sgd/valid"))
    assert not set(texts) & set(tune) and not set(texts) & banned
    with pytest.raises(data.DataError, match="unknown stop_on"):
        stopping_texts("clinc150", target, exclude=set())

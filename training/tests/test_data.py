"""Sampler and partitions on the real data: no meta-test label or text may reach meta-training."""
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

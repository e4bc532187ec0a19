"""Generic checks of every registered task, and the binary task through the data."""
import numpy as np
import pytest

from benchmark.tasks import AAMI_CLASSES, AAMI_SYMBOLS, Task, get_task, list_tasks, task_of


@pytest.mark.parametrize("name", list_tasks())
def test_every_task_groups_each_aami_class_once_and_its_labels_agree(name):
    task = get_task(name)
    members = [c for group in task.groups.values() for c in group]
    assert sorted(members) == sorted(AAMI_CLASSES)
    labels = task.relabel(np.arange(len(AAMI_CLASSES)))
    assert labels.dtype == np.int8 and set(labels.tolist()) == set(range(task.n_classes))
    symbols = task.symbol_map()
    for aami, syms in AAMI_SYMBOLS.items():
        for s in syms:
            assert symbols[s] == labels[AAMI_CLASSES.index(aami)], (name, s)
    assert set(task.reported) <= set(task.classes) and task.primary_metric == task.metrics[0]
    assert set(task.long_names) == set(task.classes)
    assert task_of({"task": task.as_dict()}) is task


def test_the_binary_task_is_normal_against_the_rest():
    binary = get_task("binary")
    assert binary.classes == ("normal", "abnormal")
    assert binary.relabel(np.array([0, 1, 2, 3, 4, 0])).tolist() == [0, 1, 1, 1, 1, 0]
    assert {"sensitivity", "specificity", "auroc"} <= set(binary.metrics)
    assert task_of({}) is get_task("aami5"), "a grid written before tasks is aami5"


def test_a_task_that_loses_an_aami_class_is_refused():
    with pytest.raises(ValueError, match="every AAMI class exactly once"):
        Task("bad", {"N": ("N",), "V": ("V",)}, {"N": "n", "V": "v"}, ("N",), ("macro_f1",), "")
    with pytest.raises(KeyError, match="known tasks: aami5, binary"):
        get_task("ternary")


def test_a_binary_split_has_two_classes_a_key_of_its_own_and_the_same_records(tiny_db, cache_dir):
    from benchmark.data.splits import load_split

    five = load_split("inter", tiny_db, cache_dir=cache_dir)
    two = load_split("inter", tiny_db, cache_dir=cache_dir, task="binary")
    assert two.task == "binary" and set(np.unique(two.train.y).tolist()) == {0, 1}
    assert np.array_equal(two.test.y, (five.test.y > 0).astype(np.int8)), "abnormal = S, V, F, Q"
    assert np.array_equal(two.test.record, five.test.record)
    assert two.key != five.key, "the task is part of the data key"

"""core.lessons.tensor_ops (with tensor_specs, tensor_op_spec, tensor_errors): tensors built and ops applied
exactly as PyTorch does, errors explained, code that reproduces."""
import pytest
import torch

from core.errors import InputError
from core.lessons.tensor_errors import explain_broadcast
from core.lessons.tensor_op_spec import OpSpec
from core.lessons.tensor_ops import OPS, apply_op, tensor_code, time_on_devices, view_info
from core.lessons.tensor_specs import DTYPES, SOURCES, TensorSpec, build_tensor, parse_index, parse_shape, parse_values

SEED_EXAMPLE = TensorSpec()  # torch.tensor([[1, 2], [3, 4]])


def test_seed_example_is_the_default():
    assert torch.equal(build_tensor(SEED_EXAMPLE), torch.tensor([[1, 2], [3, 4]]))


@pytest.mark.parametrize("spec, ref", [
    (TensorSpec("arange", shape=(2, 3), dtype="float32"), torch.arange(6, dtype=torch.float32).reshape(2, 3)),
    (TensorSpec("ones", shape=(3,), dtype="int32"), torch.ones(3, dtype=torch.int32)),
    (TensorSpec("zeros", shape=(), dtype="float64"), torch.zeros((), dtype=torch.float64)),
    (TensorSpec("random", shape=(2, 2), dtype="float32", seed=7),
     torch.randn(2, 2, generator=torch.Generator().manual_seed(7))),
    (TensorSpec("random", shape=(4,), dtype="int64", seed=3),
     torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(3))),
])
def test_build_matches_torch(spec, ref):
    t = build_tensor(spec)
    assert t.dtype == ref.dtype and torch.equal(t, ref)


def test_random_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_tensor(TensorSpec("random", shape=(5,), dtype="float32", seed=1))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("text", ["", "[[1, 2], [3]]", "[1, 'a']", "__import__('os')", "[1, 2", "[True, 1]"])
def test_bad_values_are_explained(text):
    with pytest.raises(InputError) as e:
        parse_values(text, "float32")
    assert str(e.value)  # a plain-words message


@pytest.mark.parametrize("text", ["2, x", "1.5"])
def test_bad_shape(text):
    with pytest.raises(InputError):
        parse_shape(text)


def test_shape_limits():
    with pytest.raises(InputError):
        build_tensor(TensorSpec("ones", shape=(1000, 1000)))
    with pytest.raises(InputError):
        build_tensor(TensorSpec("ones", shape=(2, -1)))


A = torch.arange(6, dtype=torch.float32).reshape(2, 3)
B = torch.tensor([10.0, 20.0, 30.0])


@pytest.mark.parametrize("op, ref", [
    (OpSpec("add"), A + B), (OpSpec("sub"), A - B), (OpSpec("mul"), A * B), (OpSpec("div"), A / B),
    (OpSpec("reshape", shape=(3, -1)), A.reshape(3, -1)), (OpSpec("view", shape=(6,)), A.view(6)),
    (OpSpec("transpose", dims=(0, 1)), A.transpose(0, 1)), (OpSpec("permute", dims=(1, 0)), A.permute(1, 0)),
    (OpSpec("unsqueeze", dim=1), A.unsqueeze(1)), (OpSpec("squeeze", dim=None), A.squeeze()),
    (OpSpec("index", index="1, ::2"), A[1, ::2]), (OpSpec("index", index="..., -1"), A[..., -1]),
    (OpSpec("index", index="None, :"), A[None, :]),
    (OpSpec("sum", dim=1), A.sum(dim=1)), (OpSpec("sum", dim=None), A.sum()),
    (OpSpec("mean", dim=0, keepdim=True), A.mean(dim=0, keepdim=True)),
    (OpSpec("max", dim=1), A.max(dim=1).values), (OpSpec("argmax", dim=1), A.argmax(dim=1)),
    (OpSpec("contiguous"), A.contiguous()),
])
def test_ops_equal_pytorch(op, ref):
    res = apply_op(A, B, op)
    assert res.error is None
    assert res.out.shape == ref.shape and res.out.dtype == ref.dtype and torch.equal(res.out, ref)


def test_matmul_cat_stack():
    a, b = torch.arange(6.).reshape(2, 3), torch.arange(12.).reshape(3, 4)
    assert torch.equal(apply_op(a, b, OpSpec("matmul")).out, a @ b)
    assert torch.equal(apply_op(a, a, OpSpec("cat", dim=1)).out, torch.cat([a, a], dim=1))
    assert torch.equal(apply_op(a, a, OpSpec("stack", dim=2)).out, torch.stack([a, a], dim=2))


def test_broadcast_explained_from_the_right():
    info = explain_broadcast((2, 1, 3), (4, 1))
    assert info.ok and info.out_shape == torch.broadcast_shapes((2, 1, 3), (4, 1))
    assert [c.note for c in info.columns] == ["b added and stretched", "a stretched", "b stretched"]
    bad = explain_broadcast((2, 3), (4,))
    assert not bad.ok and [c.dim for c in bad.columns if c.note == "MISMATCH"] == [-1]


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3), (4,)), ((5, 2, 3), (4, 3)), ((3,), (2, 2))])
def test_broadcast_agrees_with_torch(a_shape, b_shape):
    info = explain_broadcast(a_shape, b_shape)
    try:
        ref = torch.broadcast_shapes(a_shape, b_shape)
    except RuntimeError:
        ref = None
    assert info.out_shape == (None if ref is None else tuple(ref))


def test_shape_errors_are_teaching_moments():
    # non-broadcastable
    err = apply_op(torch.ones(2, 3), torch.ones(4), OpSpec("add")).error
    assert err is not None and err.bad_dim == -1 and "3" in err.explanation and "4" in err.explanation
    assert err.torch_message  # PyTorch's own words are kept
    # matmul mismatch names the inner dims
    err = apply_op(torch.ones(2, 3), torch.ones(2, 3), OpSpec("matmul")).error
    assert err.title.startswith("Inner dimensions") and "size 3" in err.explanation and "size 2" in err.explanation
    # reshape to a wrong size
    err = apply_op(torch.ones(2, 3), None, OpSpec("reshape", shape=(4,))).error
    assert "6" in err.explanation and "4" in err.explanation
    # view on a non-contiguous tensor
    err = apply_op(torch.ones(2, 3).t(), None, OpSpec("view", shape=(6,))).error
    assert "contiguous" in err.explanation
    # stack of different shapes, cat along a mismatching dim, mean of ints, dim out of range
    assert apply_op(torch.ones(2, 3), torch.ones(2, 4), OpSpec("stack")).error.bad_dim == 1
    assert apply_op(torch.ones(2, 3), torch.ones(3, 3), OpSpec("cat", dim=1)).error.bad_dim == 0
    assert "floating" in apply_op(torch.ones(2, dtype=torch.int64), None, OpSpec("mean", dim=0)).error.title
    assert apply_op(torch.ones(2, 3), None, OpSpec("sum", dim=5)).error is not None
    assert apply_op(torch.ones(2, 3), None, OpSpec("permute", dims=(0, 0))).error is not None
    assert apply_op(torch.ones(2, 3), None, OpSpec("index", index="5")).error is not None


def test_bad_index_text_never_runs():
    for text in ["__import__('os').system('true')", "a.b", "1.5", "::-1", ""]:
        with pytest.raises(InputError):
            parse_index(text)


def test_view_vs_copy_via_storage():
    a = torch.arange(6).reshape(2, 3)
    t = apply_op(a, None, OpSpec("transpose", dims=(0, 1)))
    assert t.view.shares_storage and t.view.out_strides == (1, 3) and not t.view.out_contiguous
    c = view_info(a.t(), a.t().contiguous())
    assert not c.shares_storage and c.out_contiguous
    copy = apply_op(a, None, OpSpec("transpose_copy", dims=(0, 1)))
    assert torch.equal(copy.out, a.t().contiguous()) and not copy.view.shares_storage
    same = apply_op(a, None, OpSpec("contiguous"))
    assert same.out is a and same.view.shares_storage and same.notes
    idx = apply_op(a, None, OpSpec("index", index="1"))
    assert idx.view.shares_storage and idx.view.out_offset == 3


@pytest.mark.parametrize("op", [OpSpec(o) for o in OPS if o not in ("matmul",)] + [OpSpec("matmul")])
def test_generated_code_reproduces_result(op):
    a_spec = TensorSpec("random", shape=(2, 2), dtype="float32", seed=1)
    b_spec = TensorSpec("typed", values="[[1.5, -2.0], [0.5, 3.0]]", dtype="float32")
    a, b = build_tensor(a_spec), build_tensor(b_spec)
    op = OpSpec(op.op, dim=0 if op.op not in ("squeeze",) else None, shape=(4,), dims=(1, 0), index="0, :")
    res = apply_op(a, b, op)
    assert res.error is None, res.error
    env: dict = {}
    exec(compile(tensor_code(a_spec, b_spec, op), "<code panel>", "exec"), env)
    assert torch.equal(env["result"], res.out)


def test_device_timing_runs_on_cpu():
    timings = time_on_devices(torch.ones(2, 2), torch.ones(2), OpSpec("add"), repeats=3)
    assert "cpu" in timings and timings["cpu"][1]


def _page_default_op(name: str, a: torch.Tensor) -> OpSpec:
    """The arguments the page's controls start with for `name` (ui/concept_widgets.ARG_CONTROLS)."""
    args = OPS[name].args
    dim = {"reduce": 0 if a.dim() else None, "squeeze_dim": None}.get(args, 0)
    dims = tuple(reversed(range(a.dim()))) if args == "order" else (0, 1)
    return OpSpec(name, dim=dim, shape=(a.numel(),), dims=dims, index="0")


@pytest.mark.parametrize("shape", [(2, 3), (2, 2)])
def test_every_dtype_fill_and_op_works_or_is_explained(shape):
    """All the page offers: each combination gives a result equal to its own code panel, an explained
    failure, or an InputError in words; never another exception (bool x arange used to crash)."""
    quiet = {"print": lambda *args, **kw: None}
    seen = {"result": 0, "explained": 0, "refused": 0}
    for dtype in DTYPES:
        for source in SOURCES:
            spec = TensorSpec(source, values="[[1, 2], [3, 4]]", shape=shape, dtype=dtype, seed=1)
            try:
                a = build_tensor(spec)
            except InputError as e:
                assert str(e) and "PyTorch says" in str(e)
                seen["refused"] += 1
                continue
            for name in OPS:
                op = _page_default_op(name, a)
                res = apply_op(a, a, op)
                if res.error is not None:
                    assert res.error.title != "PyTorch refused this operation", (dtype, source, name, res.error)
                    assert res.error.explanation and res.error.a_shape == tuple(a.shape)
                    seen["explained"] += 1
                    continue
                env = dict(quiet)
                exec(compile(tensor_code(spec, spec, op), "<code panel>", "exec"), env)
                torch.testing.assert_close(env["result"], res.out, rtol=0, atol=0, equal_nan=True,  # 0 / 0 is nan
                                           msg=f"{dtype} {source} {name}")
                seen["result"] += 1
    assert seen["result"] > 0 and seen["explained"] > 0 and seen["refused"] == 1  # bool arange only


def test_bool_arange_is_explained():
    with pytest.raises(InputError) as e:
        build_tensor(TensorSpec("arange", shape=(2, 3), dtype="bool"))
    assert "bool" in str(e.value) and "arange counts" in str(e.value)
    with pytest.raises(RuntimeError):  # what PyTorch itself does, so the explanation is still needed
        torch.arange(6, dtype=torch.bool)


def test_dtype_without_kernel_is_explained():
    t = torch.tensor([True, False])
    err = apply_op(t, t, OpSpec("sub")).error
    with pytest.raises(RuntimeError):
        t - t
    assert err is not None and "bool" in err.title and ".int()" in err.explanation and err.torch_message


@pytest.mark.parametrize("text", ["1.5", "__import__('os').system('true')", "0]+_[1", "a"])
def test_bad_index_is_an_explained_error_and_no_code(text):
    res = apply_op(torch.ones(2, 3), None, OpSpec("index", index=text))
    assert res.out is None and res.error.title == "Check the index"
    with pytest.raises(InputError):
        tensor_code(TensorSpec(), None, OpSpec("index", index=text))


def test_op_table_entries_are_complete():
    for name, op in OPS.items():
        assert op.arity in (1, 2) and op.label and callable(op.compute) and callable(op.code), name
        assert isinstance(op.code(OpSpec(name)), str)


@pytest.mark.parametrize("sa, sb", [((2, 3), (2,)), ((2, 3), (2, 3)), ((2, 3, 4), (2, 5, 4)), ((3,), (2, 3)),
                                    ((2, 2, 3), (2,)), ((2, 3), (4,))])
def test_matmul_hint_offers_only_rewrites_that_run(sa, sb):
    """Issue 19: the hint suggested b.T for a 1-D b, a no-op. Every `expr` the hint names must run on these
    shapes and give the shape it states; b.T is never offered for a 1-D b."""
    import re

    a, b = torch.ones(*sa), torch.ones(*sb)
    err = apply_op(a, b, OpSpec("matmul")).error
    assert err is not None
    offered = re.findall(r"`([^`]+)` \(gives (\[[0-9, ]*\])\)", err.explanation)
    if len(sb) == 1:
        assert "b.T" not in err.explanation
    for expr, shape in offered:
        assert str(list(eval(expr, {"a": a, "b": b}).shape)) == shape  # noqa: S307 - our own fixed expressions
    assert offered or "Neither a transpose" in err.explanation

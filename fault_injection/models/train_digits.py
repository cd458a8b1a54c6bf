"""Train the campaign's reference classifier: a small CNN on scikit-learn's digits.

    python -m fault_injection.models.train_digits --out fault_injection/models/digits_cnn.onnx

Data: `sklearn.datasets.load_digits` (1797 8x8 images of handwritten digits, 10
classes, pixel values 0..16; UCI "Optical Recognition of Handwritten Digits",
Alpaydin & Kaynak 1998). Pixels are scaled to [0, 1] by dividing by 16.
Split: a seeded permutation per class (stratified); 25% of each class is held out.

Network (ONNX opset 17, input "input" float32 (1, 1, 8, 8), output "logits" (1, 10)):
    Conv 3x3 (1 -> 8, pad 1) -> Relu -> Conv 3x3 (8 -> 16, pad 1) -> Relu
    -> MaxPool 2x2 -> Flatten -> Gemm (256 -> 10, transB=1)

Training is plain numpy in float64 (convolutions as im2col matrix products, the
backward pass written out by hand), softmax cross-entropy, Adam, mini-batches
drawn from a seeded generator. The weights are cast to float32 for export.
scikit-learn is needed here only: the held-out set is written beside the model
(`digits_heldout.npz`) so that tests and campaigns never import it.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

SPLIT_SEED = 20240601
TRAIN_SEED = 7
HELDOUT_FRACTION = 0.25
EPOCHS = 40
BATCH = 32
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
C1, C2, CLASSES = 8, 16, 10


def stratified_split(labels: np.ndarray, seed: int, fraction: float):
    """Indices (train, heldout): `fraction` of each class held out, by a seeded permutation."""
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for cls in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_held = int(round(fraction * len(members)))
        heldout.extend(members[:n_held])
        train.extend(members[n_held:])
    return np.sort(np.array(train)), np.sort(np.array(heldout))


# -- layers: forward returns (output, cache); backward takes (grad_output, cache) ---------

def im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C*k*k) patches of a stride-1 'same' convolution, in the
    (c, i, j) order of an ONNX Conv weight (F, C, k, k) flattened."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * k * k)


def col2im(dcols: np.ndarray, shape, k: int, pad: int) -> np.ndarray:
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + h, j:j + w] += d[:, :, i, j]
    return dxp[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, weight, bias):
    n, _, h, w = x.shape
    f, _, k, _ = weight.shape
    cols = im2col(x, k, k // 2)
    out = cols @ weight.reshape(f, -1).T + bias
    return out.reshape(n, h, w, f).transpose(0, 3, 1, 2), (x.shape, cols, weight)


def conv_backward(dout, cache):
    x_shape, cols, weight = cache
    f, _, k, _ = weight.shape
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dweight = (d.T @ cols).reshape(weight.shape)
    dbias = d.sum(axis=0)
    dx = col2im(d @ weight.reshape(f, -1), x_shape, k, k // 2)
    return dx, dweight, dbias


def maxpool_forward(x):
    """2x2, stride 2. The gradient goes to the first maximum of each window (ONNX's
    MaxPool output does not depend on which one; Relu's gradient is 0 at ties of 0)."""
    n, c, h, w = x.shape
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    first = windows.argmax(axis=-1)
    return windows.max(axis=-1), (x.shape, first)


def maxpool_backward(dout, cache):
    (n, c, h, w), first = cache
    dwin = np.zeros(dout.shape + (4,), dout.dtype)
    np.put_along_axis(dwin, first[..., None], dout[..., None], axis=-1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


def init_params(rng: np.random.Generator) -> dict:
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    return {"conv1.w": he((C1, 1, 3, 3), 9), "conv1.b": np.zeros(C1),
            "conv2.w": he((C2, C1, 3, 3), C1 * 9), "conv2.b": np.zeros(C2),
            "fc.w": he((CLASSES, C2 * 16), C2 * 16), "fc.b": np.zeros(CLASSES)}


def forward(params: dict, x: np.ndarray):
    a1, c1 = conv_forward(x, params["conv1.w"], params["conv1.b"])
    r1 = np.maximum(a1, 0.0)
    a2, c2 = conv_forward(r1, params["conv2.w"], params["conv2.b"])
    r2 = np.maximum(a2, 0.0)
    pooled, cp = maxpool_forward(r2)
    flat = pooled.reshape(len(x), -1)
    logits = flat @ params["fc.w"].T + params["fc.b"]
    return logits, (c1, a1, c2, a2, cp, pooled.shape, flat)


def loss_and_grads(params: dict, x: np.ndarray, y: np.ndarray):
    logits, (c1, a1, c2, a2, cp, pooled_shape, flat) = forward(params, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(shifted)
    prob /= prob.sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.log(prob[np.arange(n), y]).mean()
    dlogits = prob
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    grads = {"fc.w": dlogits.T @ flat, "fc.b": dlogits.sum(axis=0)}
    dpooled = (dlogits @ params["fc.w"]).reshape(pooled_shape)
    dr2 = maxpool_backward(dpooled, cp)
    dr1, grads["conv2.w"], grads["conv2.b"] = conv_backward(dr2 * (a2 > 0), c2)
    _, grads["conv1.w"], grads["conv1.b"] = conv_backward(dr1 * (a1 > 0), c1)
    return loss, grads


def train(x: np.ndarray, y: np.ndarray, seed: int = TRAIN_SEED, epochs: int = EPOCHS, log=None) -> dict:
    """Adam (beta 0.9/0.999) with decoupled weight decay on the weights, seeded batches."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            loss, grads = loss_and_grads(params, x[idx], y[idx])
            total += loss * len(idx)
            step += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                update = (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
                if k.endswith(".w"):
                    update = update + WEIGHT_DECAY * params[k]
                params[k] -= LEARNING_RATE * update
        if log:
            log(f"epoch {epoch + 1:2d}  loss {total / len(x):.4f}")
    return params


def predict(params: dict, x: np.ndarray) -> np.ndarray:
    return forward(params, x)[0].argmax(axis=1)


def to_onnx(params: dict, accuracy: float, n_heldout: int):
    from onnx import TensorProto, helper, numpy_helper

    def init(name):
        return numpy_helper.from_array(params[name].astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Conv", ["relu1", "conv2.w", "conv2.b"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])],
        [init(k) for k in ("conv1.w", "conv1.b", "conv2.w", "conv2.b", "fc.w", "fc.b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="radrt fault_injection.models.train_digits")
    model.doc_string = ("Handwritten digit classifier (scikit-learn digits / UCI Optical Recognition of "
                        "Handwritten Digits). Input: 8x8 grey image, pixel/16 in [0,1]. Output: 10 logits.")
    helper.set_model_props(model, {"dataset": "sklearn.datasets.load_digits (UCI optdigits, Alpaydin & Kaynak 1998)",
                                   "split": f"stratified, seed {SPLIT_SEED}, {HELDOUT_FRACTION:.0%} held out",
                                   "heldout_accuracy": f"{accuracy:.4f} on {n_heldout} images"})
    import onnx
    onnx.checker.check_model(model)
    return model


def verify(model_path: Path, images: np.ndarray, expected: np.ndarray) -> None:
    """The exported model, run by onnxruntime and by radrt, predicts what numpy predicted."""
    import onnxruntime
    import runtime
    ort = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rad = runtime.InferenceSession(str(model_path))
    for i, img in enumerate(images):
        feed = {"input": img[None]}
        (ort_logits,) = ort.run(None, feed)
        (rad_logits,) = rad.run(None, feed)
        np.testing.assert_allclose(rad_logits, ort_logits, rtol=1e-4, atol=1e-5)
        if not (ort_logits.argmax() == rad_logits.argmax() == expected[i]):
            raise AssertionError(f"held-out image {i}: numpy {expected[i]}, onnxruntime "
                                 f"{ort_logits.argmax()}, radrt {rad_logits.argmax()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("digits_cnn.onnx"),
                    help="model path; digits_heldout.npz is written beside it")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    train_idx, held_idx = stratified_split(labels, SPLIT_SEED, HELDOUT_FRACTION)
    log = None if args.quiet else print
    params = train(images[train_idx], labels[train_idx], epochs=args.epochs, log=log)

    held_x = images[held_idx].astype(np.float32)
    held_y = labels[held_idx]
    # Predictions of the float32 weights on the float32 images: what the ONNX model must match.
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    predicted = predict(params32, held_x)
    train_acc = float((predict(params, images[train_idx]) == labels[train_idx]).mean())
    accuracy = float((predicted == held_y).mean())

    import onnx
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(params, accuracy, len(held_y)), str(args.out))
    heldout_path = args.out.with_name("digits_heldout.npz")
    np.savez_compressed(heldout_path, images=held_x, labels=held_y, indices=held_idx.astype(np.int64))
    verify(args.out, held_x, predicted)
    print(f"train accuracy {train_acc:.4f} ({len(train_idx)} images); held-out accuracy "
          f"{accuracy:.4f} ({int((predicted == held_y).sum())}/{len(held_y)}); onnxruntime and radrt agree")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {heldout_path} "
          f"({heldout_path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

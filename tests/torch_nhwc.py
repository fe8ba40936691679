"""PyTorch autograd as an oracle for the convolutional ops: NHWC arrays in and out, NCHW inside.
Every function returns None when torch is not installed, so a test can skip that comparison."""
import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is a test oracle only
    torch = None


def _nchw(a, grad=True):
    return torch.tensor(np.asarray(a, np.float64).transpose(0, 3, 1, 2), requires_grad=grad)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _pad(x, pads, in_hw, out_hw, window, strides):
    """x padded as the geometry says: pads before, and after what the last window still reaches."""
    after = [max((out_hw[a] - 1) * strides[a] + window[a] - in_hw[a] - pads[a], 0) for a in range(2)]
    return F.pad(x, (pads[1], after[1], pads[0], after[0]))


def conv2d(x, w, b, dy, strides, dilation, pads, groups, out_hw):
    """(y, dx, dw, db) of a grouped NHWC convolution, kernel (kh, kw, c / groups, f)."""
    if torch is None:
        return None
    xt = _nchw(x)
    wt = torch.tensor(np.asarray(w, np.float64).transpose(3, 2, 0, 1), requires_grad=True)
    bt = torch.tensor(np.asarray(b, np.float64), requires_grad=True)
    window = [(w.shape[a] - 1) * dilation[a] + 1 for a in range(2)]
    yt = F.conv2d(_pad(xt, pads, x.shape[1:3], out_hw, window, strides), wt, bt, stride=strides, dilation=dilation,
                  groups=groups)
    yt.backward(_nchw(dy, False))
    return _nhwc(yt), _nhwc(xt.grad), wt.grad.numpy().transpose(2, 3, 1, 0), bt.grad.numpy()


def pool2d(kind, x, dy, pool, strides, pads, out_hw):
    """(y, dx) of a max or avg pool (avg over the cells inside the image); None where torch's
    symmetric padding cannot express the geometry."""
    if torch is None:
        return None
    in_hw = x.shape[1:3]
    after = [max((out_hw[a] - 1) * strides[a] + pool[a] - in_hw[a] - pads[a], 0) for a in range(2)]
    if after != list(pads) or any(2 * p > k for p, k in zip(pads, pool)):
        return None
    xt = _nchw(x)
    if kind == "max":
        yt = F.max_pool2d(xt, pool, strides, pads)
    else:
        yt = F.avg_pool2d(xt, pool, strides, pads, count_include_pad=False)
    yt.backward(_nchw(dy, False))
    return _nhwc(yt), _nhwc(xt.grad)

"""Field nets: the common (x, z) -> (f_x, f_z) interface, z conditioning, per-sample independence, specs."""

import pytest
import torch

from efm_core.nets import FieldMLP, FieldUNet, build_net, count_parameters, sinusoidal_embedding

SPECS = [
    ({"kind": "mlp", "width": 32, "depth": 2}, (2,)),
    ({"kind": "mlp", "width": 32, "depth": 1}, (1, 8, 8)),
    ({"kind": "unet", "channels": 8, "mults": [1, 2]}, (1, 8, 8)),
    ({"kind": "unet", "channels": 8, "mults": [1, 2, 2], "blocks": 2}, (3, 8, 8)),
]


@pytest.mark.parametrize("spec,shape", SPECS)
def test_interface_shapes_and_z_conditioning(spec, shape):
    torch.manual_seed(0)
    net = build_net(spec, shape, L=6.0)
    x = torch.randn(5, *shape)
    z = torch.linspace(0.0, 6.0, 5)
    f_x, f_z = net(x, z)
    assert f_x.shape == x.shape and f_z.shape == (5,)
    f_x2, f_z2 = net(x, z.flip(0))
    assert not torch.allclose(f_z, f_z2)  # the height matters
    assert not torch.allclose(f_x, f_x2)


@pytest.mark.parametrize("spec,shape", SPECS)
def test_samples_do_not_interact(spec, shape):
    torch.manual_seed(1)
    net = build_net(spec, shape, L=2.0)
    x, z = torch.randn(4, *shape), torch.rand(4) * 2
    f_x, f_z = net(x, z)
    for i in range(4):
        one_x, one_z = net(x[i : i + 1], z[i : i + 1])
        torch.testing.assert_close(one_x[0], f_x[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(one_z[0], f_z[i], rtol=1e-5, atol=1e-5)


def test_sinusoidal_embedding_values():
    s = torch.tensor([0.0, 0.5])
    e = sinusoidal_embedding(s, 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    torch.testing.assert_close(e[1, 0], torch.cos(torch.tensor(500.0)))  # highest frequency: 1000 * s


def test_build_net_refuses_bad_specs():
    with pytest.raises(ValueError, match="net kind"):
        build_net({"kind": "transformer"}, (2,), 1.0)
    with pytest.raises(ValueError, match="unknown option"):
        build_net({"kind": "mlp", "widht": 3}, (2,), 1.0)
    with pytest.raises(ValueError, match="divisible"):
        build_net({"kind": "unet", "mults": [1, 2, 2, 2]}, (1, 6, 6), 1.0)
    with pytest.raises(ValueError, match="positive integer"):
        build_net({"kind": "mlp", "width": "big"}, (2,), 1.0)
    with pytest.raises(ValueError, match="positive integer"):
        build_net({"kind": "unet", "mults": [1, 0]}, (1, 8, 8), 1.0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        FieldUNet((2,), 1.0)


def test_same_seed_same_weights_and_sizes():
    torch.manual_seed(3)
    a = FieldMLP((2,), 6.0, width=16, depth=1)
    torch.manual_seed(3)
    b = FieldMLP((2,), 6.0, width=16, depth=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    # input (D+1 -> w), embedding (64 -> w -> w), one block (2 w x w), output (w -> D+1)
    w = 16
    assert count_parameters(a) == (3 * w + w) + (64 * w + w + w * w + w) + 2 * (w * w + w) + (w * 3 + 3)


@pytest.mark.parametrize("shape,mults", [((1, 28, 28), [1, 2, 2]), ((3, 32, 32), [1, 2, 2, 2])])
def test_edm_unet_fits_real_image_sizes_and_sees_z(shape, mults):
    torch.manual_seed(0)
    net = build_net({"kind": "edm_unet", "channels": 8, "mults": mults, "attention": 1}, shape, L=30.0)
    x, z = torch.randn(3, *shape), torch.tensor([0.0, 15.0, 30.0])
    f_x, f_z = net(x, z)
    assert f_x.shape == x.shape and f_z.shape == (3,)
    assert f_x.abs().max() == 0 and f_z.abs().max() == 0  # zero-initialised outputs (EDM), a still field at start
    with torch.no_grad():  # give every zero-initialised layer weights, then z and x must both matter
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    f_x, f_z = net(x, z)
    f_x2, f_z2 = net(x, z.flip(0))
    assert not torch.allclose(f_x, f_x2) and not torch.allclose(f_z, f_z2)
    one_x, one_z = net(x[1:2], z[1:2])  # per-sample independence (GroupNorm, attention within one image)
    torch.testing.assert_close(one_x[0], f_x[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(one_z[0], f_z[1], rtol=1e-4, atol=1e-5)


def test_edm_unet_spec_checks():
    with pytest.raises(ValueError, match="attention"):
        build_net({"kind": "edm_unet", "attention": 2}, (1, 28, 28), 1.0)
    with pytest.raises(ValueError, match="divisible"):
        build_net({"kind": "edm_unet", "mults": [1, 2, 2, 2]}, (1, 28, 28), 1.0)
    with pytest.raises(ValueError, match="unknown option"):
        build_net({"kind": "unet", "attention": 1}, (1, 8, 8), 1.0)
    shipped = build_net({"kind": "edm_unet", "channels": 16, "mults": [1, 2, 4], "blocks": 1, "attention": 1}, (1, 28, 28), 30.0)
    assert count_parameters(shipped) < 1_000_000  # fashion-gen's net: small enough for 2 CPU cores
    for bad in (0, -1.0, float("inf"), float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="x_scale"):
            build_net({"kind": "edm_unet", "x_scale": bad}, (1, 28, 28), 1.0)


@pytest.mark.parametrize("spec", [{"kind": "edm_unet", "channels": 8, "mults": [1, 2]}, {"kind": "mlp", "width": 32, "depth": 2}])
def test_x_scale_scales_f_x_only(spec):
    """EDM's output scaling: the same weights with x_scale s give s times f_x and the same f_z."""
    torch.manual_seed(0)
    plain = build_net(spec, (1, 8, 8), 5.0)
    scaled = build_net({**spec, "x_scale": 0.125}, (1, 8, 8), 5.0)
    for p in plain.parameters():
        torch.nn.init.normal_(p, std=0.1)  # the U-Net's output layer starts at zero: give it weights
    scaled.load_state_dict(plain.state_dict())
    x, z = torch.randn(3, 1, 8, 8), torch.tensor([0.5, 2.0, 4.5])
    (fx, fz), (sx, sz) = plain(x, z), scaled(x, z)
    torch.testing.assert_close(sx, 0.125 * fx)
    torch.testing.assert_close(sz, fz)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_edm_unet_on_cuda_equals_cpu():
    torch.manual_seed(0)
    net = build_net({"kind": "edm_unet", "channels": 16, "mults": [1, 2, 4]}, (1, 28, 28), L=30.0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, z = torch.randn(8, 1, 28, 28), torch.rand(8) * 30
    f_x, f_z = net(x, z)
    g_x, g_z = net.cuda()(x.cuda(), z.cuda())
    # cuDNN may convolve in TF32 (10-bit mantissa): agreement to about 1e-3, not float32's 1e-6
    torch.testing.assert_close(g_x.cpu(), f_x, rtol=1e-2, atol=5e-3)
    torch.testing.assert_close(g_z.cpu(), f_z, rtol=1e-2, atol=5e-3)

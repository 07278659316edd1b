"""umo: speech to a talking, gesturing 3D character in real time on a CPU.

    from umo import Animator, Animation
    anim = Animator().animate(audio, 16000, text="Hello there")
    anim.save_livelink("face.csv"); anim.save_bvh("body.bvh")
"""

__version__ = "0.1.0"
__all__ = ["Animation", "Animator", "__version__"]

# Imported when first asked for: Animation pulls in numpy, the Animator the speech and animator
# modules, and every ``umo`` command imports this package before it knows what it will need.
_LAZY = {"Animation": "umo.animation", "Animator": "umo.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'umo' has no attribute {name!r}")

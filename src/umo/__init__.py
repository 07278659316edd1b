"""umo: speech to a talking, gesturing 3D character in real time on a CPU.

    from umo import Animator, Animation
    anim = Animator().animate(audio, 16000, text="Hello there")
    anim.save_livelink("face.csv"); anim.save_bvh("body.bvh")
"""

from umo.animation import Animation

__version__ = "0.1.0"
__all__ = ["Animation", "Animator", "__version__"]


def __getattr__(name: str):
    # The Animator pulls in speech and animator modules: import it only when asked for.
    if name == "Animator":
        from umo.api import Animator

        return Animator
    raise AttributeError(name)

"""PNG plots of an evaluated case (matplotlib, no display needed).

    <case>_aperture.png  lip aperture of each system vs the capture (z-scored so that shapes
                         compare), and the system shifted by its best lag
    <case>_speed.png     mean upper-body joint speed of each system and of the capture, with the
                         audio onsets (grey) and the motion beats (red ticks) that beat alignment pairs
Each shows a window of PLOT_WINDOW_S seconds from the middle of the take, where speech is dense.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLOT_WINDOW_S = 12.0
MAX_SYSTEMS = 3


def _window(t: np.ndarray) -> tuple[float, float]:
    mid = 0.5 * (t[0] + t[-1])
    return max(t[0], mid - PLOT_WINDOW_S / 2), min(t[-1], mid + PLOT_WINDOW_S / 2)


def _z(x: np.ndarray) -> np.ndarray:
    s = x.std()
    return (x - x.mean()) / (s if s > 1e-9 else 1.0)


def _metrics(result, system: str, part: str) -> dict:
    for r in result.rows:
        if r.system == system and getattr(r, part):
            return getattr(r, part)
    return {}


def plot_case(result, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umo.eval.suite import system_label

    paths = []
    face = result.curves.get("face", {})
    systems = [k for k in face if k != "capture"][:MAX_SYSTEMS]
    if "capture" in face and systems:
        fig, axes = plt.subplots(len(systems), 1, figsize=(12, 2.6 * len(systems)), sharex=True, squeeze=False)
        tc, ac = face["capture"]
        lo, hi = _window(tc)
        for ax, name in zip(axes[:, 0], systems):
            t, a = face[name]
            m = _metrics(result, name, "face")
            lag = m.get("sync_lag_ms", 0.0) or 0.0
            ax.plot(tc, _z(ac), color="black", lw=1.2, label=f"capture ({result.face_ref})")
            ax.plot(t, _z(a), color="tab:blue", lw=1.0, label=f"{system_label(name)}  r@0={m.get('sync_r0', np.nan):.2f}")
            if not np.isnan(lag) and lag != 0:
                ax.plot(t - lag / 1000.0, _z(a), color="tab:orange", lw=0.8, ls="--",
                        label=f"{system_label(name)} moved {-lag:+.0f} ms (its lag {lag:+.0f} ms: {'late' if lag > 0 else 'early'})  "
                              f"r={m.get('sync_r_best', np.nan):.2f}")
            ax.set_xlim(lo, hi)
            ax.set_ylabel("aperture (z)")
            ax.legend(loc="upper right", fontsize=8)
        axes[-1, 0].set_xlabel("time (s)")
        fig.suptitle(f"{result.case}: lip aperture vs the capture")
        fig.tight_layout()
        p = out_dir / f"{result.case}_aperture.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        paths.append(p)
    body = result.curves.get("body", {})
    systems = [k for k in body if k != "capture"][:MAX_SYSTEMS]
    if "capture" in body and systems:
        names = ["capture"] + systems
        fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.2 * len(names)), sharex=True, squeeze=False)
        onsets = result.curves.get("onsets")
        t0, _, _ = body["capture"]
        lo, hi = _window(t0)
        for ax, name in zip(axes[:, 0], names):
            t, sp, beats = body[name]
            m = _metrics(result, name, "body") if name != "capture" else {}
            if onsets is not None:
                for o in onsets[(onsets >= lo) & (onsets <= hi)]:
                    ax.axvline(o, color="0.8", lw=0.6, zorder=0)
            ax.plot(t, sp, color="black" if name == "capture" else "tab:blue", lw=1.0)
            bt = np.unique(np.concatenate(beats)) if beats else np.zeros(0, int)
            top = max(float(sp[(t >= lo) & (t <= hi)].max(initial=0.0)), 1e-3) * 1.1
            ax.plot(t[bt], np.full(len(bt), -0.04 * top), "|", ms=6, color="tab:red")
            ax.set_ylim(-0.08 * top, top)
            label = name if name == "capture" else f"{system_label(name)}  BeatAlign={m.get('beat_align', np.nan):.3f}"
            ax.set_title(label, fontsize=9, loc="left")
            ax.set_ylabel("speed (sw/s)")
            ax.set_xlim(lo, hi)
        axes[-1, 0].set_xlabel("time (s)  grey: audio onsets, red ticks: motion beats (speed minima of any beat joint)")
        fig.suptitle(f"{result.case}: mean upper-body joint speed")
        fig.tight_layout()
        p = out_dir / f"{result.case}_speed.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        paths.append(p)
    return paths

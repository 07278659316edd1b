"""Measured quality and speed: ``umo eval`` (metrics vs real captures and baselines) and ``umo bench``.

    align      put two animations of one take on one clock (rates and lengths reconciled)
    metrics    face (LVE, MAE, velocity, dynamics, lip-aperture sync) and body (beat alignment,
               diversity, hand speed/jerk, Frechet distances) metrics
    motion_ae  the small motion autoencoder behind the latent Frechet distance (committed weights)
    baselines  animators by name (rules, loudness, model:PATH) and ground-truth baselines
    suite      cases, suites (incl. the built-in ``real``), tables and JSON
    plots      aperture and speed plots
    bench      speed of animator configurations
"""

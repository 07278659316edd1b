"""Full-body motion beyond speech: the rule-based action library behind ``umo generate`` (text ->
motion, :mod:`umo.motion.actions`, captions parsed by :mod:`umo.motion.captions`) and the
beat-tracked dance teacher behind ``umo dance`` (:mod:`umo.motion.dance`). Both are procedural;
a learned text-to-motion / music-to-dance generator is future work."""

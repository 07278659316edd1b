"""Live output to the tools people drive characters with: VMC over OSC (VSeeFace, Warudo, VNyan,
VMagicMirror, EVMC4U ...) and Unreal's Live Link Face UDP (MetaHuman).

- :mod:`umo.live.targets`: where frames go (``HOST:PORT`` endpoints, the Live Link subject); the
  standard library only, so that the command line's parser can use it without numpy;
- :mod:`umo.live.vmc`: frames -> VMC messages (ARKit and VRM blendshapes, VRM humanoid bones);
- :mod:`umo.live.livelink_udp`: frames -> Live Link Face packets, and the decoder of those packets;
- :mod:`umo.live.sender`: the UDP sockets, a take played in real time (``umo send``) and the
  mirror of live streams (``umo serve --vmc / --livelink``).

docs/live.md describes the messages and the packet layout.
"""

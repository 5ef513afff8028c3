"""Code that runs inside the sandbox.

These modules import only the standard library (plus pandas and numpy, which the zygote preloads).
They are not imported from disk inside the sandbox: the worker sends their source over the zygote's
control socket at start-up, so no part of the project tree is mounted into the sandbox.
`framing` is also imported by the worker, which speaks the same frames.
"""

# Start-up order matters: a module may only import modules listed before it.
RUNTIME_MODULES = ("framing", "seccomp_filter", "child", "zygote_main")

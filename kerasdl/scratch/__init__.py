"""NumPy reference implementations, written the way the lessons write them.

They are the oracles the Keras layers, optimizers and losses are tested
against, and readable teaching code in their own right. Import the module you
need, e.g. `from kerasdl.scratch import deep_nn` or `from kerasdl.scratch
import conv`; this package imports nothing on its own.
"""

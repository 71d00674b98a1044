"""Built-in runtime programs of the emulator (source files, run in worker processes).

Each module defines ``main(backend, user_messenger, **kwargs)`` and a ``__program__`` metadata
literal; the emulator stores their source like any uploaded program.
"""

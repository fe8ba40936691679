"""The name registry behind every Keras-semantics module's get, serialize and deserialize."""


def canonical(name):
    """Keras accepts 'glorot_uniform' and 'GlorotUniform'; both reduce to 'glorotuniform'."""
    return name.replace("_", "").lower()


class Configurable:
    """Keras's config round trip: from_config(get_config()) rebuilds the object; repr shows the config."""

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class Registry:
    """Name -> class lookup for one kind of object, with Keras-style get/serialize/deserialize.

    Args:
        kind: what the objects are, for error messages ("loss", "optimizer", ...).
        base: the base class; instances of it pass through `get` unchanged.
    """

    def __init__(self, kind, base):
        self.kind = kind
        self.base = base
        self._classes = {}
        self._names = []

    def add(self, cls, *aliases):
        """Register cls under its class name and the given snake_case aliases."""
        for name in (cls.__name__,) + aliases:
            self._classes[canonical(name)] = cls
        # list 'adam' rather than both 'Adam' and 'adam' in error messages
        alias_keys = {canonical(a) for a in aliases}
        self._names.extend(aliases if canonical(cls.__name__) in alias_keys else (cls.__name__,) + aliases)
        return cls

    def names(self):
        return sorted(self._names, key=str.lower)

    def lookup(self, name):
        """The class registered under name (any case, with or without underscores)."""
        cls = self._classes.get(canonical(name)) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"Unknown {self.kind} {name!r}; valid names are: {', '.join(self.names())}")
        return cls

    def serialize(self, obj):
        """{'class_name': ..., 'config': ...} for a registered object (no state, only its config)."""
        if not isinstance(obj, self.base):
            raise TypeError(f"serialize: expected a {self.base.__name__}, got {type(obj).__name__}")
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, data):
        """Inverse of serialize: a fresh object of a registered class; unknown names are refused."""
        if not isinstance(data, dict) or "class_name" not in data:
            raise TypeError(f"deserialize: expected a dict with 'class_name' and 'config' for a {self.kind}, "
                            f"got {data!r}")
        config = data.get("config") or {}
        if not isinstance(config, dict):
            raise TypeError(f"deserialize: the 'config' of a {self.kind} must be a dict, got {config!r}")
        return self.lookup(data["class_name"]).from_config(config)

    def get(self, identifier):
        """An instance from a name (default arguments), a config dict, or an instance (returned as is)."""
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            return self.lookup(identifier)()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        raise TypeError(f"Could not interpret {self.kind} identifier {identifier!r}: expected a name, "
                        f"a {self.base.__name__} or a {{'class_name', 'config'}} dict")

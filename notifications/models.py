"""notifications: no tables yet; the package is in place so its layer boundaries hold from day one."""

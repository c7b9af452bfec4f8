from banchengshi.audit.selectors import audited_schemas

__all__ = ["audited_schemas"]

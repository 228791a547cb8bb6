"""Frame interpolation: RIFE with its published weights, an optical-flow fallback, film frame-rate conversion."""
from .adapters import ADAPTERS, NetAdapter, register_adapter
from .flow import FlowInterpolator
from .interpolator import Interpolator, available_models

__all__ = ["Interpolator", "FlowInterpolator", "NetAdapter", "ADAPTERS", "register_adapter", "available_models"]

# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The test-time strengths, checked in one place: TDE's alpha and NorCal's
gamma are finite numbers ``>= 0``; anything else is a ``ValueError`` that
says what 0 means."""
import math


def _check_strength(value, name: str, zero: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a number, got {value!r}') from None
    if not (math.isfinite(number) and number >= 0.0):
        raise ValueError(
            f'{name} must be a finite, non-negative number, got {value} '
            f'({zero})')
    return number


def check_alpha(alpha) -> float:
    """TDE's alpha as a float (an infinite alpha turns every score into
    NaN)."""
    return _check_strength(
        alpha, 'alpha', 'alpha=0, or use_tde=False, is the plain '
        'de-confounded model')


def check_gamma(gamma) -> float:
    """NorCal's gamma as a float."""
    return _check_strength(gamma, 'NorCal gamma',
                           '0 is the uncalibrated model')

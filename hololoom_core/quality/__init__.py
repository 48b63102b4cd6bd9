"""Predictive quality: forecast an answer's quality before generating it, pick its configuration, learn from outcomes.

`features` computes the pre-answer features, `model` the online model (river) with its prior and
calibration, `recommend` the configuration tier, `outcomes` the stored predictions and their labels,
`metrics` the progressive-validation figures, `service` ties them to the engine and `capability`
installs it.
"""

"""The synthetic demo borough, calibrated to the Dacorum 2014/15 strategic assessment.

``geography`` builds the synthetic beats, sectors and roads; ``calibration`` reads the targets
(``calibration.toml``); ``allocation`` meets them as exact integer counts; ``incidents`` and
``collisions`` place each record in time and space; ``writers`` write the real input formats;
``build`` writes the whole input set and ingests it.
"""

#: Seed of the default demo records.
DEFAULT_SEED = 2014

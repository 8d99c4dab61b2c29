"""The synthetic demo borough, calibrated to the Dacorum 2014/15 strategic assessment."""

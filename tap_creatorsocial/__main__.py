"""`python -m tap_creatorsocial` runs the tap."""

from tap_creatorsocial.tap import TapCreatorSocial

TapCreatorSocial.cli()

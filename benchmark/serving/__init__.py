"""Using a trained model: a run's model exported as a bundle (``bundle``), beats read from a user's
recording (``inputs``), classified and summarised (``predict``), and served over HTTP (``app``)."""

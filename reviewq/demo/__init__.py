"""`reviewq demo`: a database with four weeks of simulated history that tells a story."""

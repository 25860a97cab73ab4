"""Acts on the registry that people and CI take: promotion policy and notifications."""

"""What runs: the capture and curate jobs, pure DataFrame transforms and the star-schema builders."""

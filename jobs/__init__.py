"""What runs: the capture and curate jobs, pure transforms and the star-schema builders."""

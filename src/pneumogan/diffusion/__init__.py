"""Class-conditional denoising diffusion: a generator family beside the GANs (`pneumogan diffusion train`)."""

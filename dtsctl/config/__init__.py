"""Where dtsctl's settings come from: profiles on disk and the resolved target."""

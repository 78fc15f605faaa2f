// CycleGAN's image pool on the device: per sample n, the discriminator gets
// the stored image plan[2n] (or the new image when it is negative), and the
// new image is stored in slot plan[2n+1] (when not negative), in sample order,
// so a slot stored by one sample and read by a later one gives that sample's
// image, as junyanz's ImagePool does one image at a time. The plan (whether
// and where) is drawn on the host; the CPU path's twin is
// Sources/AtelierGraph/Ops/Definitions/ImagePool.swift. One work-item a pixel.
__kernel void image_pool(const int samples, const int per_image, __global const float *restrict plan,
                         __global const float *restrict images, __global float *restrict pool,
                         __global float *restrict out) {
  const int i = get_global_id(0);
  if (i >= per_image) return;
  for (int n = 0; n < samples; ++n) {
    const int source = (int)plan[2 * n], target = (int)plan[2 * n + 1];
    const float v = images[n * per_image + i];
    out[n * per_image + i] = source >= 0 ? pool[source * per_image + i] : v;
    if (target >= 0) pool[target * per_image + i] = v;
  }
}

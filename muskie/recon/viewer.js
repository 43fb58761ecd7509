// The point-cloud viewer of muskie.recon.viewer: canvas 2D only (no WebGL, no library, no network).
// Points are splatted into an ImageData through a z-buffer; camera frusta are drawn as lines on top.
// The data comes from the <script type="application/json" id="scene"> element of the page.
(function () {
  "use strict";
  const scene = JSON.parse(document.getElementById("scene").textContent);
  const canvas = document.getElementById("view");
  const context = canvas.getContext("2d");
  const status = document.getElementById("status");

  function decode(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }
  const positions = new Float32Array(decode(scene.positions).buffer); // x, y, z per point (little-endian)
  const colors = decode(scene.colors); // r, g, b per point
  const count = scene.count;

  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const unit = (a) => scale(a, 1 / Math.max(Math.hypot(a[0], a[1], a[2]), 1e-12));

  // the orbit: the eye looks at `target` from `distance`, turned by `yaw` about `up` and tilted by `pitch`
  const up = unit(scene.up);
  let target, distance, yaw, pitch, pointSize;
  let ahead, side; // the horizontal basis the angles are measured in
  function reset() {
    target = scene.target.slice();
    const toTarget = sub(target, scene.eye);
    distance = Math.hypot(toTarget[0], toTarget[1], toTarget[2]);
    const forward = unit(toTarget);
    const level = sub(forward, scale(up, dot(forward, up)));
    ahead = Math.hypot(level[0], level[1], level[2]) > 1e-6 ? unit(level) : unit(cross(up, [1, 0, 0]));
    side = cross(ahead, up);
    yaw = 0;
    pitch = Math.asin(Math.max(-1, Math.min(1, -dot(forward, up)))); // > 0: looking down
    pointSize = 2;
  }

  // the viewing camera in OpenCV axes: x right, y down, z forward
  function viewCamera() {
    const level = add(scale(ahead, Math.cos(yaw)), scale(side, Math.sin(yaw)));
    const forward = add(scale(level, Math.cos(pitch)), scale(up, -Math.sin(pitch)));
    const right = unit(cross(forward, up));
    const down = cross(forward, right);
    return {eye: sub(target, scale(forward, distance)), right, down, forward};
  }

  function draw() {
    const width = canvas.width, height = canvas.height;
    const camera = viewCamera();
    const focal = 0.5 * height / Math.tan(scene.fov_degrees * Math.PI / 360);
    const cx = width / 2, cy = height / 2, near = 1e-3 * distance;
    const image = context.createImageData(width, height);
    const pixels = new Uint32Array(image.data.buffer);
    const depth = new Float32Array(width * height).fill(Infinity);
    const background = (255 << 24) | (scene.background[2] << 16) | (scene.background[1] << 8) | scene.background[0];
    pixels.fill(background >>> 0);
    const [rx, ry, rz] = camera.right, [dx, dy, dz] = camera.down, [fx, fy, fz] = camera.forward;
    const [ex, ey, ez] = camera.eye;
    const half = pointSize >> 1;
    let drawn = 0;
    for (let i = 0; i < count; i++) {
      const px = positions[3 * i] - ex, py = positions[3 * i + 1] - ey, pz = positions[3 * i + 2] - ez;
      const z = px * fx + py * fy + pz * fz;
      if (z <= near) continue;
      const u = Math.round(cx + focal * (px * rx + py * ry + pz * rz) / z) - half;
      const v = Math.round(cy + focal * (px * dx + py * dy + pz * dz) / z) - half;
      if (u + pointSize <= 0 || v + pointSize <= 0 || u >= width || v >= height) continue;
      const color = (255 << 24) | (colors[3 * i + 2] << 16) | (colors[3 * i + 1] << 8) | colors[3 * i];
      for (let row = Math.max(v, 0); row < Math.min(v + pointSize, height); row++) {
        for (let column = Math.max(u, 0); column < Math.min(u + pointSize, width); column++) {
          const k = row * width + column;
          if (z < depth[k]) { depth[k] = z; pixels[k] = color >>> 0; }
        }
      }
      drawn++;
    }
    context.putImageData(image, 0, 0);

    function project(point) {
      const p = sub(point, camera.eye);
      const z = dot(p, camera.forward);
      return [cx + focal * dot(p, camera.right) / z, cy + focal * dot(p, camera.down) / z];
    }
    context.lineWidth = 1.5;
    for (const frustum of scene.cameras) {
      context.strokeStyle = `rgb(${frustum.color.join(",")})`;
      context.beginPath();
      for (const [start, end] of frustum.segments) {
        // keep the part of the segment in front of the near plane
        let a = start, b = end;
        const za = dot(sub(a, camera.eye), camera.forward), zb = dot(sub(b, camera.eye), camera.forward);
        if (za <= near && zb <= near) continue;
        if (za <= near) a = add(a, scale(sub(b, a), (near - za) / (zb - za)));
        if (zb <= near) b = add(b, scale(sub(a, b), (near - zb) / (za - zb)));
        const pa = project(a), pb = project(b);
        context.moveTo(pa[0], pa[1]);
        context.lineTo(pb[0], pb[1]);
      }
      context.stroke();
    }
    status.textContent = `${count} points (${drawn} in view), ${scene.cameras.length} cameras`;
    document.body.dataset.drawnPoints = String(drawn);
  }

  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }
  function fit() {
    canvas.width = Math.max(1, window.innerWidth);
    canvas.height = Math.max(1, window.innerHeight);
  }

  let dragging = null;
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  canvas.addEventListener("mousedown", (event) => {
    dragging = {x: event.clientX, y: event.clientY, pan: event.button !== 0 || event.shiftKey};
  });
  window.addEventListener("mouseup", () => { dragging = null; });
  window.addEventListener("mousemove", (event) => {
    if (!dragging) return;
    const moveX = event.clientX - dragging.x, moveY = event.clientY - dragging.y;
    dragging.x = event.clientX;
    dragging.y = event.clientY;
    if (dragging.pan) {
      const camera = viewCamera();
      const step = distance * 2 * Math.tan(scene.fov_degrees * Math.PI / 360) / canvas.height;
      target = add(target, add(scale(camera.right, -moveX * step), scale(camera.down, -moveY * step)));
    } else {
      yaw -= moveX * 0.006;
      pitch = Math.max(-1.55, Math.min(1.55, pitch + moveY * 0.006));
    }
    redraw();
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    distance *= Math.exp(event.deltaY * 0.001);
    redraw();
  }, {passive: false});
  window.addEventListener("keydown", (event) => {
    if (event.key === "+" || event.key === "=") pointSize = Math.min(pointSize + 1, 8);
    else if (event.key === "-") pointSize = Math.max(pointSize - 1, 1);
    else if (event.key === "r") reset();
    else return;
    redraw();
  });
  window.addEventListener("resize", () => { fit(); redraw(); });

  reset();
  fit();
  draw(); // at once, so that the page shows the cloud when it has loaded
})();

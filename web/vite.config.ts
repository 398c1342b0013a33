import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { VantResolver } from '@vant/auto-import-resolver'

// `npm run dev` proxies the API to a standalone server on :8080
// (`make run`), so the client can be developed with hot reload.
export default defineConfig({
  plugins: [vue(), Components({ dts: false, resolvers: [VantResolver({ importStyle: false })] })],
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/blobs': 'http://127.0.0.1:8080',
    },
  },
  build: {
    outDir: 'dist',
    chunkSizeWarningLimit: 1200,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
